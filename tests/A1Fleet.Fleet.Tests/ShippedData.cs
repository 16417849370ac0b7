namespace A1Fleet.Fleet.Tests;

/// <summary>Data the repository ships, located from the test's build output.</summary>
internal static class ShippedData
{
    public static string TinyFmDataset => Path.Combine(RepositoryRoot(), "calibration-jobs", "datasets", "tiny-fm-sim");

    private static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "A1Fleet.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("cannot find the repository root above " + AppContext.BaseDirectory);
    }
}
