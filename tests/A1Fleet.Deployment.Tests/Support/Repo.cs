namespace A1Fleet.Deployment.Tests.Support;

/// <summary>Paths in the repository and in its build output.</summary>
public static class Repo
{
    public static string Root { get; } = FindRoot();

    /// <summary>Release or Debug: whichever this test assembly was built as, so started processes match it.</summary>
    public static string Configuration { get; } =
        AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";

    public static string PathOf(string relative) => Path.Combine(Root, relative.Replace('/', Path.DirectorySeparatorChar));

    public static string ReadText(string relative) => File.ReadAllText(PathOf(relative));

    /// <summary>The built dll of a project of this configuration; fails naming the build to run when it is missing.</summary>
    public static string BuiltDll(string projectDirectory, string assembly)
    {
        var path = Path.Combine(Root, projectDirectory, "bin", Configuration, "net10.0", assembly);
        return File.Exists(path) ? path : throw new FileNotFoundException($"{path} is missing: build the solution ({Configuration}) first", path);
    }

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "A1Fleet.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("cannot find the repository root (A1Fleet.sln) above " + AppContext.BaseDirectory);
    }
}
