using A1Fleet.Grains;
using A1Fleet.Silo.Security;

namespace A1Fleet.Silo.Tests.Silo;

/// <summary>The input rules the API, a1ctl and the grains share, and the credential text form.</summary>
public sealed class InputRulesTests
{
    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(0.0)]
    [InlineData(-1.0)]
    [InlineData(4.9)]
    [InlineData(60_000.5)]
    public void LatencyBudget_OutsideFloorAndMax_NamesTheField(double budget) =>
        Assert.StartsWith("budgetMs ", InputRules.LatencyBudget(budget, floorMs: 5));

    [Theory]
    [InlineData(5.0)]
    [InlineData(60_000.0)]
    public void LatencyBudget_WithinBounds_IsFine(double budget) => Assert.Null(InputRules.LatencyBudget(budget, floorMs: 5));

    [Theory]
    [InlineData(0, 10)]
    [InlineData(10, 10)]
    [InlineData(0, null)]
    [InlineData(int.MaxValue, null)]
    public void ActionsHeld_WithinOneChunkOrChunkUnknown_IsFine(int held, int? chunk) => Assert.Null(InputRules.ActionsHeld(held, chunk));

    [Theory]
    [InlineData(-1, 10, "[0, 10]")]
    [InlineData(11, 10, "[0, 10]")]
    [InlineData(-1, null, "0 or more")]
    public void ActionsHeld_OutsideOneChunk_NamesTheFieldAndTheBounds(int held, int? chunk, string bounds)
    {
        var problem = InputRules.ActionsHeld(held, chunk);

        Assert.StartsWith($"observation.actions_held {held} ", problem);
        Assert.Contains(bounds, problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("wave\u001b[2J", 4)]
    [InlineData("tab\there", 3)]
    [InlineData("abc\u202Edcba", 3)]
    [InlineData("\u0085next", 0)]
    public void Instruction_WithTerminalControls_IsRefusedNamingThePosition(string instruction, int at)
    {
        Assert.Equal(at, InputRules.UnsafeCharacter(instruction));
        Assert.Contains($"at position {at}", InputRules.Instruction(instruction), StringComparison.Ordinal);
    }

    [Fact]
    public void Instruction_LimitsLengthButAcceptsOrdinaryUnicode()
    {
        Assert.Null(InputRules.Instruction("put the café cup on the coaster — gently 👍"));
        Assert.Null(InputRules.Instruction(new string('a', InputRules.MaxInstructionLength)));
        Assert.Contains("501 characters", InputRules.Instruction(new string('a', InputRules.MaxInstructionLength + 1)), StringComparison.Ordinal);
        Assert.Equal("instruction is empty", InputRules.Instruction("  "));
    }

    [Fact]
    public void Escape_WritesControlsAsCodePoints_AndLeavesOtherTextAlone()
    {
        Assert.Equal(@"wave\u001B[2J\u0007", Printable.Escape("wave\u001b[2J\u0007"));
        Assert.Equal(@"a\u202Eb", Printable.Escape("a\u202Eb"));
        Assert.Equal(@"C:\path café", Printable.Escape(@"C:\path café"));
    }

    [Fact]
    public void Selector_TooLongOrWithControls_IsRefused()
    {
        Assert.False(RobotSelector.TryParse("tag:" + new string('x', InputRules.MaxSelectorLength), out _, out var tooLong));
        Assert.Contains("at most 128", tooLong, StringComparison.Ordinal);
        Assert.False(RobotSelector.TryParse("robot:a\u001bb", out _, out var control));
        Assert.Contains("control character", control, StringComparison.Ordinal);
    }

    [Fact]
    public void CredentialKeys_RoundTrip_AndRefuseOtherKindsAndTampering()
    {
        var (id, key, hash) = CredentialKeys.Generate(CredentialKind.Robot);
        Assert.Matches("^a1r_[0-9a-f]{16}_[0-9a-f]{64}$", key);
        Assert.True(CredentialKeys.TryParse(key, CredentialKind.Robot, out var parsedId, out var parsedHash));
        Assert.Equal(id, parsedId);
        Assert.Equal(hash, parsedHash);
        Assert.False(CredentialKeys.TryParse(key, CredentialKind.ApiKey, out _, out _));
        Assert.False(CredentialKeys.TryParse(key.ToUpperInvariant(), CredentialKind.Robot, out _, out _));
        Assert.False(CredentialKeys.TryParse(key + "0", CredentialKind.Robot, out _, out _));
        Assert.True(CredentialKeys.TryParse(key[..^1] + (key[^1] == '0' ? '1' : '0'), CredentialKind.Robot, out _, out var otherHash));
        Assert.NotEqual(hash, otherHash);
        Assert.NotEqual(key, CredentialKeys.Generate(CredentialKind.Robot).Key);
    }
}
