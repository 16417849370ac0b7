using System.Text.RegularExpressions;
using System.Xml.Linq;
using A1Fleet.Deployment.Tests.Support;

namespace A1Fleet.Deployment.Tests.Architecture;

/// <summary>
/// The dependency rules of docs/architecture.md, read from the project files (references followed transitively), so a
/// reference that breaks one fails here, naming the path that breaks it.
/// </summary>
public sealed partial class DependencyRuleTests
{
    private static readonly ProjectGraph Graph = ProjectGraph.Load(Repo.Root);

    [Fact]
    public void Engine_NeitherItNorWhatItReferences_KnowsOrleansOrAnythingOutsideTheEngine()
    {
        var engine = Graph.Projects.Where(p => p.Path.StartsWith("engine/", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(engine);
        foreach (var project in engine)
        {
            foreach (var reached in Graph.Closure(project))
            {
                Assert.True(reached.Path.StartsWith("engine/", StringComparison.Ordinal), $"{project.Path} reaches {reached.Path}, outside engine/");
                Assert.True(reached.OrleansPackages.Count == 0, $"{project.Path} reaches Orleans ({string.Join(", ", reached.OrleansPackages)}) through {reached.Path}");
            }
        }
    }

    [Fact]
    public void Libraries_NeverReferenceAnApplication()
    {
        foreach (var library in Graph.Projects.Where(p => !p.IsApplication))
        {
            var application = Graph.Closure(library).FirstOrDefault(p => p.IsApplication);
            Assert.True(application is null, $"library {library.Path} reaches the application {application?.Path}");
        }
    }

    [Fact]
    public void Grains_NeverReferenceAnApplication()
    {
        var grains = Graph.Projects.Where(p => p.Path.StartsWith("grains/", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, grains.Count);
        Assert.All(grains, g => Assert.DoesNotContain(Graph.Closure(g), p => p.IsApplication));
    }

    [Fact]
    public void RobotAgent_NeverReferencesTheGrainImplementations()
    {
        var agent = Graph.Projects.Where(p => p.Path.StartsWith("robot-agent/", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(agent);
        foreach (var project in agent)
        {
            Assert.DoesNotContain(Graph.Closure(project), p => p.Path == "grains/A1Fleet.Grains/A1Fleet.Grains.csproj");
        }
    }

    [Fact]
    public void RobotAgent_ReachesOnlyWhatItUses()
    {
        // The agent uses the wire contracts, the gateway protocol and, to record episodes, the dataset library's
        // writer (which needs the model-package contract); never the engine, the calibration or an application.
        string[] allowed = ["robot-agent/", "grains/A1Fleet.Grains.Abstractions/", "protos/", "datasets/", "engine/A1Fleet.ModelFormat/", "motion/"];
        var agent = Graph.Projects.Where(p => p.Path.StartsWith("robot-agent/", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(agent);
        foreach (var project in agent)
        {
            foreach (var reached in Graph.Closure(project))
            {
                Assert.True(allowed.Any(a => reached.Path.StartsWith(a, StringComparison.Ordinal)), $"{project.Path} reaches {reached.Path}, which the agent does not use");
            }
        }
    }

    [Fact]
    public void CalibrationJobsFolder_IsReferencedFromNoProjectOutsideIt()
    {
        // calibration-jobs/ holds the job (an application); the libraries it uses live in datasets/ and calibration/.
        foreach (var project in Graph.Projects.Where(p => !p.Path.StartsWith("calibration-jobs/", StringComparison.Ordinal)))
        {
            var reached = project.References.FirstOrDefault(r => r.StartsWith("calibration-jobs/", StringComparison.Ordinal));
            Assert.True(reached is null, $"{project.Path} references {reached} in the application folder calibration-jobs/");
        }
    }

    [Fact]
    public void ApiContracts_SharedByServerAndClient_WithoutOrleansOrImplementations()
    {
        const string contracts = "contracts/A1Fleet.Api.Contracts/A1Fleet.Api.Contracts.csproj";
        var project = Graph.Projects.Single(p => p.Path == contracts);
        Assert.Empty(project.OrleansPackages);
        // Besides the grain contracts, only the early-exit arithmetic: a calibration body's defaults and rules (CalibrationRules).
        string[] allowed = ["grains/A1Fleet.Grains.Abstractions/A1Fleet.Grains.Abstractions.csproj", "engine/A1Fleet.EarlyExit/A1Fleet.EarlyExit.csproj"];
        Assert.All(Graph.Closure(project), p => Assert.Contains(p.Path, allowed));
        Assert.Contains(contracts, Graph.Projects.Single(p => p.Path == "silo/A1Fleet.Silo/A1Fleet.Silo.csproj").References);
        Assert.Contains(contracts, Graph.Projects.Single(p => p.Path == "operator-cli/A1Fleet.Operator.Client/A1Fleet.Operator.Client.csproj").References);
    }

    [Fact]
    public void OperatorTools_NeverReachTheEngineOrTheCalibration()
    {
        // a1ctl checks a calibration's flags with CalibrationRules (pure arithmetic); the engine, ONNX Runtime,
        // the dataset readers and the calibration library stay on the silos and in the job.
        string[] allowed = ["operator-cli/", "contracts/", "grains/A1Fleet.Grains.Abstractions/", "engine/A1Fleet.EarlyExit/"];
        var tools = Graph.Projects.Where(p => p.Path.StartsWith("operator-cli/", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(tools);
        foreach (var project in tools)
        {
            foreach (var reached in Graph.Closure(project))
            {
                Assert.True(allowed.Any(a => reached.Path.StartsWith(a, StringComparison.Ordinal)), $"{project.Path} reaches {reached.Path}, which an operator's tool does not need");
            }
        }
    }

    [Fact]
    public void HttpTypes_AreDeclaredInOnlyOneOfServerClientAndContracts()
    {
        // A request or response body written in both the silo and its client drifts; the contracts project holds it once.
        string[] folders = ["silo", "operator-cli", "contracts"];
        var declared = folders.ToDictionary(f => f, f => DeclaredTypes(Repo.PathOf(f)));
        foreach (var (a, b) in new[] { (0, 1), (0, 2), (1, 2) })
        {
            var both = declared[folders[a]].Intersect(declared[folders[b]], StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
            Assert.True(both.Count == 0, $"declared in both {folders[a]}/ and {folders[b]}/: {string.Join(", ", both)}");
        }
    }

    private static HashSet<string> DeclaredTypes(string folder) =>
        [.. Directory.EnumerateFiles(folder, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Split(System.IO.Path.DirectorySeparatorChar).Any(part => part is "bin" or "obj"))
            .SelectMany(f => TypeDeclaration().Matches(File.ReadAllText(f)).Select(m => m.Groups["name"].Value))];

    [GeneratedRegex(@"^\s*(?:(?:public|internal|sealed|static|abstract|partial|readonly)\s+)*(?:record(?:\s+struct|\s+class)?|class|struct|enum|interface)\s+(?<name>\w+)", RegexOptions.Multiline)]
    private static partial Regex TypeDeclaration();

    [Fact]
    public void TopLevelFolders_DependOnEachOtherWithoutACycle()
    {
        var edges = Graph.Projects
            .SelectMany(p => p.References.Select(r => (From: FolderOf(p.Path), To: FolderOf(r))))
            .Where(e => e.From != e.To)
            .Distinct()
            .ToLookup(e => e.From, e => e.To);
        foreach (var start in edges.Select(g => g.Key))
        {
            // Depth-first search for a path back to start, kept to report it.
            var path = FindPath(start, start, edges, [start], new HashSet<string>(StringComparer.Ordinal));
            Assert.True(path is null, $"folders depend on each other in a cycle: {string.Join(" -> ", path ?? [])}");
        }
    }

    private static string FolderOf(string projectPath) => projectPath[..projectPath.IndexOf('/', StringComparison.Ordinal)];

    private static List<string>? FindPath(string from, string target, ILookup<string, string> edges, List<string> path, HashSet<string> seen)
    {
        foreach (var next in edges[from])
        {
            if (next == target)
            {
                return [.. path, next];
            }

            if (seen.Add(next) && FindPath(next, target, edges, [.. path, next], seen) is { } found)
            {
                return found;
            }
        }

        return null;
    }

    [Fact]
    public void TestProjects_AreNamedAfterTheProjectTheyTest()
    {
        // tests/A1Fleet.X.Tests tests the project A1Fleet.X. Three names stand for no one project: the multi-process
        // cluster (silo, agent and Redis processes together), the deployment files (deploy/, dashboards/, compose,
        // Dockerfiles, docs) and the helpers the test projects share.
        string[] notOneProject = ["tests/A1Fleet.Cluster.Tests/", "tests/A1Fleet.Deployment.Tests/", "tests/A1Fleet.Testing/"];
        var names = Graph.Projects.Select(p => System.IO.Path.GetFileNameWithoutExtension(p.Path)).ToHashSet(StringComparer.Ordinal);
        foreach (var test in ProjectGraph.TestProjects(Repo.Root).Where(t => !notOneProject.Any(n => t.StartsWith(n, StringComparison.Ordinal))))
        {
            var name = System.IO.Path.GetFileNameWithoutExtension(test);
            Assert.True(name.EndsWith(".Tests", StringComparison.Ordinal) && names.Contains(name[..^".Tests".Length]), $"{test} is named after no project in the repository");
        }
    }

    [Fact]
    public void Solution_ListsEveryProjectInTheRepository()
    {
        var solution = File.ReadAllText(Repo.PathOf("A1Fleet.sln")).Replace('\\', '/');
        var all = Graph.Projects.Select(p => p.Path).Concat(ProjectGraph.TestProjects(Repo.Root));
        Assert.All(all, path => Assert.Contains(path, solution, StringComparison.Ordinal));
    }

    private sealed record Project(string Path, bool IsApplication, IReadOnlyList<string> References, IReadOnlyList<string> OrleansPackages);

    private sealed class ProjectGraph
    {
        private readonly Dictionary<string, Project> _byPath;

        private ProjectGraph(Dictionary<string, Project> byPath) => _byPath = byPath;

        public IEnumerable<Project> Projects => _byPath.Values;

        /// <summary>Every non-test project under the repository root (bin/obj and node_modules skipped).</summary>
        public static ProjectGraph Load(string root)
        {
            var projects = Files(root).Where(f => !f.StartsWith("tests/", StringComparison.Ordinal)).Select(f => Read(root, f)).ToDictionary(p => p.Path);
            return new ProjectGraph(projects);
        }

        public static IEnumerable<string> TestProjects(string root) => Files(root).Where(f => f.StartsWith("tests/", StringComparison.Ordinal));

        /// <summary>What <paramref name="project"/> references, directly or through others.</summary>
        public IReadOnlyList<Project> Closure(Project project)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            var queue = new Queue<string>(project.References);
            while (queue.TryDequeue(out var path))
            {
                if (seen.Add(path) && _byPath.TryGetValue(path, out var next))
                {
                    foreach (var reference in next.References)
                    {
                        queue.Enqueue(reference);
                    }
                }
            }

            return [.. seen.Select(p => _byPath.TryGetValue(p, out var found) ? found : throw new InvalidOperationException($"{project.Path} references {p}, which is not a project here"))];
        }

        private static IEnumerable<string> Files(string root) =>
            Directory.EnumerateFiles(root, "*.csproj", SearchOption.AllDirectories)
                .Select(f => System.IO.Path.GetRelativePath(root, f).Replace('\\', '/'))
                .Where(f => !f.Split('/').Any(part => part is "bin" or "obj" or "node_modules" || part.StartsWith('.')))
                .Order(StringComparer.Ordinal);

        private static Project Read(string root, string path)
        {
            var document = XDocument.Load(System.IO.Path.Combine(root, path));
            var sdk = (string?)document.Root!.Attribute("Sdk") ?? "";
            var outputType = document.Descendants("OutputType").Select(e => e.Value.Trim()).LastOrDefault();
            var directory = System.IO.Path.GetDirectoryName(path)!;
            var references = document.Descendants("ProjectReference")
                .Select(e => (string)e.Attribute("Include")!)
                .Select(include => System.IO.Path.GetRelativePath(root, System.IO.Path.GetFullPath(System.IO.Path.Combine(root, directory, include.Replace('\\', '/')))).Replace('\\', '/'))
                .ToList();
            var orleans = document.Descendants("PackageReference")
                .Select(e => (string?)e.Attribute("Include") ?? "")
                .Where(name => name.StartsWith("Microsoft.Orleans", StringComparison.Ordinal))
                .ToList();
            var application = string.Equals(outputType, "Exe", StringComparison.OrdinalIgnoreCase)
                || (sdk == "Microsoft.NET.Sdk.Web" && !string.Equals(outputType, "Library", StringComparison.OrdinalIgnoreCase));
            return new Project(path, application, references, orleans);
        }
    }
}
