using A1Fleet.Grains.Inference;

namespace A1Fleet.Grains.Tests.Inference;

public sealed class InferenceServiceOptionsValidatorTests
{
    [Theory]
    [InlineData(InferenceDevice.Simulated, 0.25)]
    [InlineData(InferenceDevice.Simulated, 50)]
    [InlineData(InferenceDevice.Engine, 1)]
    public void Validate_SimulatedTimeScaleWithinRange_Succeeds(InferenceDevice device, double scale)
    {
        var result = new InferenceServiceOptionsValidator().Validate(null, new InferenceServiceOptions { Device = device, SimulatedTimeScale = scale });

        Assert.True(result.Succeeded, result.FailureMessage);
    }

    [Theory]
    [InlineData(InferenceDevice.Simulated, 0, "within 0.01..1000")]
    [InlineData(InferenceDevice.Simulated, 1001, "within 0.01..1000")]
    [InlineData(InferenceDevice.Simulated, double.NaN, "within 0.01..1000")]
    [InlineData(InferenceDevice.Engine, 10, "applies to the simulated device only")]
    public void Validate_SimulatedTimeScaleOutOfRangeOrOnTheEngine_FailsNamingTheKey(InferenceDevice device, double scale, string message)
    {
        var result = new InferenceServiceOptionsValidator().Validate(null, new InferenceServiceOptions { Device = device, SimulatedTimeScale = scale });

        Assert.True(result.Failed);
        Assert.Contains("A1Fleet:Inference:SimulatedTimeScale", result.FailureMessage, StringComparison.Ordinal);
        Assert.Contains(message, result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void SimulatedTimeScale_Default_IsTheMeasuredTime()
    {
        Assert.Equal(1, new InferenceServiceOptions().SimulatedTimeScale);
    }

    [Fact]
    public void Validate_SimulatedPricesFileOnTheEngine_FailsNamingTheKey()
    {
        var file = Path.GetTempFileName();
        try
        {
            var result = new InferenceServiceOptionsValidator().Validate(null, new InferenceServiceOptions { Device = InferenceDevice.Engine, SimulatedPricesFile = file });

            Assert.Contains("A1Fleet:Inference:SimulatedPricesFile applies to the simulated device only", result.FailureMessage, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Validate_SimulatedPricesFileMissing_FailsNamingTheFile()
    {
        var result = new InferenceServiceOptionsValidator().Validate(null, new InferenceServiceOptions { Device = InferenceDevice.Simulated, SimulatedPricesFile = "/nonexistent/prices.json" });

        Assert.Contains("A1Fleet:Inference:SimulatedPricesFile '/nonexistent/prices.json' does not exist", result.FailureMessage, StringComparison.Ordinal);
    }
}
