namespace A1Fleet.Engine.Tests.Training;

public sealed class TrainingUnitTests
{
    /// <summary>The Python side's own unit tests (training/tests): tokenizer rules, chunks, seeded determinism, export shapes.</summary>
    [TorchFact]
    public void PythonUnitTests_TrainingPackage_AllPass()
    {
        var output = TrainingPython.Run("-m", "unittest", "discover", "-s", "tests", "-t", ".");
        Assert.DoesNotContain("FAILED", output, StringComparison.Ordinal);
    }
}
