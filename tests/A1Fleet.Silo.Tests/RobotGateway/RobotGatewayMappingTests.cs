using A1Fleet.Grains;
using A1Fleet.RobotGateway;

namespace A1Fleet.Silo.Tests.RobotGateway;

public sealed class RobotGatewayMappingTests
{
    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    public void Observation_ActionsHeld_SurvivesTheWire(int held)
    {
        var proto = new Observation(3, [1f, 2f], [[1, 2, 3]], DateTimeOffset.UnixEpoch, ActionsHeld: held).ToProto();

        Assert.True(proto.HasActionsHeld);
        Assert.Equal(held, proto.FromProto().ActionsHeld);
    }

    [Fact]
    public void Observation_ActionsHeldNotReported_StaysUnreportedRatherThanZero()
    {
        // Zero would say "about to stop"; an agent from before the field says nothing, and the grain estimates instead.
        var proto = new Observation(3, [1f, 2f], [[1, 2, 3]], DateTimeOffset.UnixEpoch).ToProto();

        Assert.False(proto.HasActionsHeld);
        Assert.Null(proto.FromProto().ActionsHeld);
    }
}
