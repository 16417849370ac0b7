using A1Fleet.Engine.Onnx;

namespace A1Fleet.Engine.Tests.Onnx;

public sealed class IntraOpPoolTests
{
    [Fact]
    public void Size_Configured_UsedAsItIsWhateverTheMachine()
    {
        Assert.Equal(3, IntraOpPool.Size(configured: 3, usable: 2, online: 64));
        Assert.Equal(1, IntraOpPool.Size(configured: 1, usable: 64, online: 64));
    }

    [Fact]
    public void Size_NotConfiguredInAContainerLimitedToTwoCpusOfSixtyFour_TwoThreads()
    {
        // ONNX Runtime's own default would count the node's cores: 64 threads against a quota of 2.
        Assert.Equal(2, IntraOpPool.Size(configured: 0, usable: 2, online: 64));
    }

    [Fact]
    public void Size_NotConfiguredWithTheWholeMachine_LeftToOnnxRuntimesPhysicalCores()
    {
        // .NET counts logical processors: with hyperthreads that would be twice ONNX Runtime's one per physical core.
        Assert.Equal(0, IntraOpPool.Size(configured: 0, usable: 16, online: 16));
    }

    [Fact]
    public void Size_NotConfiguredMachineUnknown_LeftToOnnxRuntime()
    {
        Assert.Equal(0, IntraOpPool.Size(configured: 0, usable: 4, online: null));
    }

    [Theory]
    [InlineData("0-1\n", 2)]
    [InlineData("0", 1)]
    [InlineData("0-3,8-11", 8)]
    [InlineData("0,2,4-5", 4)]
    public void ParseCpuList_KernelLists_CountEveryProcessor(string list, int expected)
    {
        Assert.Equal(expected, IntraOpPool.ParseCpuList(list));
    }

    [Theory]
    [InlineData("")]
    [InlineData("3-1")]
    [InlineData("0-x")]
    [InlineData("-1")]
    public void ParseCpuList_NotAList_Unknown(string list)
    {
        Assert.Null(IntraOpPool.ParseCpuList(list));
    }

    [Fact]
    public void OnlineProcessors_OnLinux_AtLeastWhatThisProcessMayUse()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Null(IntraOpPool.OnlineProcessors());
            return;
        }

        var online = IntraOpPool.OnlineProcessors();
        Assert.NotNull(online);
        Assert.True(online >= 1, $"{online} processors online");
        if (Environment.GetEnvironmentVariable("DOTNET_PROCESSOR_COUNT") is null)
        {
            // Without that override .NET counts within the machine: its limit or affinity can only leave fewer.
            Assert.InRange(Environment.ProcessorCount, 1, online.Value);
        }
    }
}
