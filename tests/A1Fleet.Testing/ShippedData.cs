namespace A1Fleet.Testing;

/// <summary>Data the repository ships, located from the test's build output.</summary>
public static class ShippedData
{
    public static string TinyFmDataset => Path.Combine(RepositoryRoot(), "calibration-jobs", "datasets", "tiny-fm-sim");

    /// <summary>The shipped trained Franka tabletop policy with the flow-matching head: the demo's default for its Franka arms.</summary>
    public static string TrainedFm => Path.Combine(RepositoryRoot(), "models", "trained", "franka-tabletop-fm");

    /// <summary>A copy of <see cref="TinyFmDataset"/> in <paramref name="to"/>, for tests that change or break it; returns <paramref name="to"/>.</summary>
    public static string CopyTinyFmDataset(string to)
    {
        foreach (var file in Directory.EnumerateFiles(TinyFmDataset, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(TinyFmDataset, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }

        return to;
    }

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
