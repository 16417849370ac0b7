using System.Net;
using System.Net.Sockets;
using System.Text;
using A1Fleet.Deployment.Tests.Support;

namespace A1Fleet.Deployment.Tests.Docker;

/// <summary>The Dockerfiles checked offline (no Docker engine here): what they copy and build exists, images are
/// non-root on the right runtime, the silo's health check really probes /health/live.</summary>
public sealed class DockerfileTests
{
    public static TheoryData<string, string> Images() => new()
    {
        { "silo/Dockerfile", "silo/A1Fleet.Silo/A1Fleet.Silo.csproj" },
        { "robot-agent/Dockerfile", "robot-agent/A1Fleet.RobotAgent/A1Fleet.RobotAgent.csproj" },
    };

    private static string ProjectFile(string path) =>
        path.EndsWith(".csproj", StringComparison.Ordinal) ? path : $"{path.TrimEnd('/')}/{Path.GetFileName(path.TrimEnd('/'))}.csproj";

    [Theory]
    [MemberData(nameof(Images))]
    public void Dockerfile_CopySources_ExistInTheRepository(string dockerfile, string project)
    {
        var file = Dockerfile.Load(dockerfile);
        var sources = file.ContextCopySources.ToList();

        Assert.NotEmpty(sources);
        Assert.Contains("Directory.Build.props", sources);
        Assert.Contains("Directory.Packages.props", sources);
        Assert.All(sources, s => Assert.True(File.Exists(Repo.PathOf(s)) || Directory.Exists(Repo.PathOf(s)), $"{dockerfile} copies {s}, which is not in the repository"));
        Assert.Contains(file.DotnetProjects, p => ProjectFile(p) == project);
    }

    [Theory]
    [MemberData(nameof(Images))]
    public void Dockerfile_BuiltProjects_ExistWithEveryReferencedProjectCopied(string dockerfile, string project)
    {
        var file = Dockerfile.Load(dockerfile);
        var copied = file.ContextCopySources.Select(s => s.TrimEnd('/') + "/").ToList();
        var projects = file.DotnetProjects.Select(ProjectFile).ToList();

        Assert.Contains(project, projects);
        foreach (var built in projects)
        {
            Assert.True(File.Exists(Repo.PathOf(built)), $"{dockerfile} builds {built}, which does not exist");
            foreach (var needed in Dockerfile.ProjectClosure(built))
            {
                Assert.True(copied.Any(c => needed.StartsWith(c, StringComparison.Ordinal)),
                    $"{dockerfile}: {built} needs {needed}, which no COPY brings into the build stage");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Images))]
    public void Dockerfile_Entrypoint_RunsTheAssemblyTheProjectBuilds(string dockerfile, string project)
    {
        var entrypoint = string.Join(' ', Dockerfile.Load(dockerfile).Entrypoint);

        Assert.Contains("/app/" + Dockerfile.AssemblyOf(project), entrypoint, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Images))]
    public void Dockerfile_Stages_BuildWithTheSdkAndRunNonRootOnTheRuntimeTheProjectNeeds(string dockerfile, string project)
    {
        var file = Dockerfile.Load(dockerfile);
        var stages = file.Stages;
        var runtime = stages[^1];
        var runtimeImage = runtime.Image.StartsWith("${", StringComparison.Ordinal) ? file.ArgDefaults[runtime.Image.Trim('$', '{', '}')] : runtime.Image;

        Assert.True(stages.Count >= 2, $"{dockerfile} is not multi-stage");
        Assert.Equal("mcr.microsoft.com/dotnet/sdk:10.0", stages[0].Image);
        Assert.Equal(Dockerfile.NeedsAspNetCore(project) ? "mcr.microsoft.com/dotnet/aspnet:10.0" : "mcr.microsoft.com/dotnet/runtime:10.0", runtimeImage);
        var user = runtime.Body.Last(i => i.Keyword == "USER").Arguments;
        var uid = user.StartsWith("${", StringComparison.Ordinal) ? file.ArgDefaults[user.Trim('$', '{', '}')] : user;
        Assert.True(int.TryParse(uid, out var n) && n > 0, $"{dockerfile} runs as '{user}' ({uid}), not a non-root uid");
        Assert.DoesNotContain(runtime.Body, i => i.Keyword == "RUN" && i.Arguments.Contains("dotnet build", StringComparison.Ordinal));
        Assert.Contains(runtime.Body, i => i.Keyword == "COPY" && i.Arguments.StartsWith("--from=build /app", StringComparison.Ordinal));
    }

    [Fact]
    public void SiloDockerfile_BuildStage_BuildsEveryModelPresetIntoModels()
    {
        var file = Dockerfile.Load("silo/Dockerfile");
        var presets = file.ArgDefaults["MODEL_PRESETS"].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var builder = Tools.Run("dotnet", [Repo.BuiltDll("model-builder/A1Fleet.ModelBuilder", "A1Fleet.ModelBuilder.dll"), "presets"], TimeSpan.FromSeconds(60));
        var known = builder.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

        Assert.Equal(0, builder.ExitCode);
        Assert.Contains("small-fm", presets);
        Assert.All(presets, p => Assert.Contains(p, known));
        Assert.Contains(file.Stages[0].Body, i => i.Keyword == "RUN" && i.Arguments.Contains("--project model-builder/A1Fleet.ModelBuilder -- build --preset", StringComparison.Ordinal) &&
                                                i.Arguments.Contains("--out \"/models/$preset\"", StringComparison.Ordinal) &&
                                                i.Arguments.Contains("--thresholds shipped", StringComparison.Ordinal));
        Assert.Contains(file.Stages[^1].Body, i => i.Keyword == "COPY" && i.Arguments == "--from=build /models /models");
        Assert.Contains(file.Stages[^1].Body, i => i.Keyword == "ENV" && i.Arguments.Contains("A1Fleet__Inference__ModelPackages__0=/models/small-fm", StringComparison.Ordinal));
        Assert.Contains(file.Stages[^1].Body, i => i.Keyword == "EXPOSE" && i.Arguments == "8080 11111 30000");
    }

    [ToolTheory("bash")]
    [InlineData(200, 0)]
    [InlineData(503, 1)]
    public async Task SiloDockerfile_Healthcheck_ExitsZeroOnlyWhenHealthLiveAnswers200(int status, int expectedExit)
    {
        var file = Dockerfile.Load("silo/Dockerfile");
        var healthcheck = file.Stages[^1].Body.Single(i => i.Keyword == "HEALTHCHECK").Arguments;
        var command = System.Text.Json.JsonSerializer.Deserialize<string[]>(healthcheck[healthcheck.IndexOf('[', StringComparison.Ordinal)..])!;
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var requested = new TaskCompletionSource<string>();
        var server = Task.Run(async () =>
        {
            using var client = await listener.AcceptTcpClientAsync();
            using var stream = client.GetStream();
            // Read the whole request before answering: closing a socket with unread bytes sends a reset,
            // which can reach the client before it has read the status line.
            var buffer = new byte[4096];
            var read = 0;
            while (read < buffer.Length && !Encoding.ASCII.GetString(buffer, 0, read).Contains("\r\n\r\n", StringComparison.Ordinal))
            {
                var n = await stream.ReadAsync(buffer.AsMemory(read));
                if (n == 0)
                {
                    break;
                }

                read += n;
            }

            requested.TrySetResult(Encoding.ASCII.GetString(buffer, 0, read));
            var reason = status == 200 ? "OK" : "Service Unavailable";
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"));
        });

        Assert.Equal("bash", command[0]);
        Assert.Contains("127.0.0.1/8080", command[2], StringComparison.Ordinal);
        var result = Tools.Run(command[0], [command[1], command[2].Replace("127.0.0.1/8080", $"127.0.0.1/{port}", StringComparison.Ordinal)], TimeSpan.FromSeconds(20));
        await server.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.StartsWith("GET /health/live HTTP/1.1\r\n", await requested.Task, StringComparison.Ordinal);
        Assert.Equal(expectedExit, result.ExitCode);
    }
}
