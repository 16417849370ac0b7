using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using A1Fleet.Deployment.Tests.Support;

namespace A1Fleet.Deployment.Tests.Docker;

/// <summary>A Dockerfile read as instructions (continuation lines joined, comments dropped).</summary>
public sealed partial class Dockerfile
{
    private Dockerfile(string path, IReadOnlyList<(string Keyword, string Arguments)> instructions)
    {
        Path = path;
        Instructions = instructions;
    }

    public string Path { get; }

    public IReadOnlyList<(string Keyword, string Arguments)> Instructions { get; }

    public static Dockerfile Load(string relativePath)
    {
        var instructions = new List<(string, string)>();
        var current = "";
        foreach (var raw in Repo.ReadText(relativePath).Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (current.Length == 0 && (line.TrimStart().StartsWith('#') || string.IsNullOrWhiteSpace(line)))
            {
                continue;
            }

            if (line.EndsWith('\\'))
            {
                current += line[..^1] + " ";
                continue;
            }

            current += line;
            var m = Instruction().Match(current.Trim());
            instructions.Add((m.Groups[1].Value.ToUpperInvariant(), m.Groups[2].Value.Trim()));
            current = "";
        }

        return new Dockerfile(relativePath, instructions);
    }

    /// <summary>The stages, each with its instructions: (name, base image, instructions).</summary>
    public IReadOnlyList<(string Name, string Image, List<(string Keyword, string Arguments)> Body)> Stages
    {
        get
        {
            var stages = new List<(string, string, List<(string, string)>)>();
            foreach (var (keyword, args) in Instructions)
            {
                if (keyword == "FROM")
                {
                    var parts = args.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                    var name = parts.Length >= 3 && parts[^2].Equals("AS", StringComparison.OrdinalIgnoreCase) ? parts[^1] : "";
                    stages.Add((name, parts.First(p => !p.StartsWith("--", StringComparison.Ordinal)), []));
                }
                else if (stages.Count > 0)
                {
                    stages[^1].Item3.Add((keyword, args));
                }
            }

            return stages;
        }
    }

    /// <summary>ARG defaults declared before the first FROM or in any stage (NAME=default).</summary>
    public IReadOnlyDictionary<string, string> ArgDefaults =>
        Instructions.Where(i => i.Keyword == "ARG" && i.Arguments.Contains('=', StringComparison.Ordinal))
            .Select(i => i.Arguments.Split('=', 2))
            .ToDictionary(p => p[0].Trim(), p => p[1].Trim().Trim('"'));

    /// <summary>Sources of COPY instructions that copy from the build context (not --from another stage).</summary>
    public IEnumerable<string> ContextCopySources =>
        Instructions.Where(i => i.Keyword is "COPY" or "ADD" && !i.Arguments.Contains("--from=", StringComparison.Ordinal))
            .SelectMany(i =>
            {
                var parts = i.Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries).Where(p => !p.StartsWith("--", StringComparison.Ordinal)).ToList();
                return parts.Take(parts.Count - 1);
            });

    /// <summary>Projects named by dotnet restore/publish/build/run commands in RUN instructions.</summary>
    public IEnumerable<string> DotnetProjects =>
        Instructions.Where(i => i.Keyword == "RUN")
            .SelectMany(i => ProjectArgument().Matches(i.Arguments).Select(m => m.Groups["path"].Value))
            .Distinct(StringComparer.Ordinal);

    /// <summary>The exec-form ENTRYPOINT (JSON array) of the last stage.</summary>
    public IReadOnlyList<string> Entrypoint =>
        JsonSerializer.Deserialize<string[]>(Stages[^1].Body.Last(i => i.Keyword == "ENTRYPOINT").Arguments)
            ?? throw new InvalidDataException($"{Path}: ENTRYPOINT is not a JSON array");

    /// <summary>A project and every project it references, transitively (paths relative to the repository, '/' separated).</summary>
    public static IReadOnlySet<string> ProjectClosure(string projectRelativePath)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Stack<string>([Normalize(projectRelativePath)]);
        while (pending.Count > 0)
        {
            var project = pending.Pop();
            if (!seen.Add(project))
            {
                continue;
            }

            var dir = System.IO.Path.GetDirectoryName(project)!;
            foreach (var reference in XDocument.Load(Repo.PathOf(project)).Descendants("ProjectReference"))
            {
                pending.Push(Normalize(System.IO.Path.Combine(dir, ((string?)reference.Attribute("Include"))!.Replace('\\', '/'))));
            }
        }

        return seen;
    }

    /// <summary>The assembly a project builds: its AssemblyName, or the project file's name.</summary>
    public static string AssemblyOf(string projectRelativePath)
    {
        var name = XDocument.Load(Repo.PathOf(projectRelativePath)).Descendants("AssemblyName").Select(e => e.Value.Trim()).FirstOrDefault();
        return (string.IsNullOrEmpty(name) ? System.IO.Path.GetFileNameWithoutExtension(projectRelativePath) : name) + ".dll";
    }

    /// <summary>True when the project needs the ASP.NET Core shared framework (Web SDK or a FrameworkReference to it).</summary>
    public static bool NeedsAspNetCore(string projectRelativePath)
    {
        var closure = ProjectClosure(projectRelativePath);
        return closure.Any(p =>
        {
            var doc = XDocument.Load(Repo.PathOf(p));
            var sdk = (string?)doc.Root?.Attribute("Sdk") ?? "";
            return sdk.Contains("Microsoft.NET.Sdk.Web", StringComparison.Ordinal) ||
                   doc.Descendants("FrameworkReference").Any(f => (string?)f.Attribute("Include") == "Microsoft.AspNetCore.App");
        });
    }

    private static string Normalize(string path)
    {
        var full = System.IO.Path.GetFullPath(System.IO.Path.Combine(Repo.Root, path));
        return System.IO.Path.GetRelativePath(Repo.Root, full).Replace('\\', '/');
    }

    [GeneratedRegex(@"^(\w+)\s*(.*)$", RegexOptions.Singleline)]
    private static partial Regex Instruction();

    [GeneratedRegex(@"(?:--project\s+|dotnet\s+(?:restore|publish|build)\s+)(?<path>[^\s""']+\.csproj|[^\s""']+/A1Fleet\.[A-Za-z.]+(?=\s|$))")]
    private static partial Regex ProjectArgument();
}
