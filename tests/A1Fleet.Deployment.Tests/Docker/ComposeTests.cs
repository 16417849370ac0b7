using System.Text.Json.Nodes;
using A1Fleet.Deployment.Tests.Support;

namespace A1Fleet.Deployment.Tests.Docker;

/// <summary>docker-compose.yml validated offline by docker-compose itself, then its normalized form checked
/// against the repository (build contexts, Dockerfiles, mounted files) and the topology.</summary>
public sealed class ComposeTests
{
    private static readonly string[] Embodiments = ["franka", "agibot", "openarm", "dobot"];

    /// <summary>`docker-compose config` (normalized, paths absolute) as JSON, through python3's yaml module (a docker-compose dependency).</summary>
    private static JsonObject NormalizedConfig()
    {
        var config = Tools.Run(Tools.Require("docker-compose"), ["-f", "docker-compose.yml", "config"], TimeSpan.FromSeconds(60));
        Assert.True(config.ExitCode == 0, config.ToString());
        var file = Path.Combine(Path.GetTempPath(), $"a1fleet-compose-{Guid.NewGuid():N}.yml");
        try
        {
            File.WriteAllText(file, config.StdOut);
            var json = Tools.Run("python3", ["-c", "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)", file], TimeSpan.FromSeconds(30));
            Assert.True(json.ExitCode == 0, json.ToString());
            return JsonNode.Parse(json.StdOut)!.AsObject();
        }
        finally
        {
            File.Delete(file);
        }
    }

    private static JsonObject Services() => NormalizedConfig()["services"]!.AsObject();

    [ToolFact("docker-compose")]
    public void Compose_ConfigQuiet_ExitsZero()
    {
        var result = Tools.Run(Tools.Require("docker-compose"), ["-f", "docker-compose.yml", "config", "-q"], TimeSpan.FromSeconds(60));

        Assert.True(result.ExitCode == 0, result.ToString());
    }

    [ToolFact("docker-compose", "python3")]
    public void Compose_Services_AreRedisTwoSilosOneAgentPerArmKindPrometheusGrafana()
    {
        var names = Services().Select(s => s.Key).Order(StringComparer.Ordinal);

        Assert.Equal(["agent-agibot", "agent-dobot", "agent-franka", "agent-openarm", "grafana", "prometheus", "redis", "silo-cpu", "silo-gpu"], names);
    }

    [ToolFact("docker-compose", "python3")]
    public void Compose_RedisAndPorts_AppendOnlyEveryWriteNoEvictionAndPublishedOnLoopbackOnly()
    {
        var services = Services();
        var command = services["redis"]!["command"]!.AsArray().Select(a => (string)a!).ToList();
        Assert.Equal("yes", command[command.IndexOf("--appendonly") + 1]);
        Assert.Equal("always", command[command.IndexOf("--appendfsync") + 1]);
        Assert.Equal("noeviction", command[command.IndexOf("--maxmemory-policy") + 1]);
        // docker-compose v1 normalizes to short strings ("redis-data:/data:rw", "127.0.0.1:8080:8080/tcp"), v2 to maps.
        Assert.Contains(services["redis"]!["volumes"]!.AsArray(), v => v is JsonValue
            ? ((string)v!).Split(':')[1] == "/data"
            : (string?)v!["target"] == "/data");

        foreach (var (name, service) in services)
        {
            foreach (var port in service!["ports"]?.AsArray() ?? [])
            {
                var (hostIp, target) = port is JsonValue
                    ? (((string)port!).Split(':')[0], int.Parse(((string)port!).Split(':')[^1].Split('/')[0], System.Globalization.CultureInfo.InvariantCulture))
                    : ((string?)port!["host_ip"], (int)port["target"]!);
                Assert.True(hostIp == "127.0.0.1", $"{name} publishes {port.ToJsonString()} beyond the host's loopback");
                Assert.False(target is 11111 or 30000, $"{name} publishes an Orleans port: {port.ToJsonString()}");
            }
        }
    }

    [ToolFact("docker-compose", "python3")]
    public void Compose_BuildContextsAndDockerfiles_ExistInTheRepository()
    {
        var built = Services().Where(s => s.Value!["build"] is not null).ToList();

        Assert.Equal(6, built.Count);
        Assert.All(built, s =>
        {
            var context = (string)s.Value!["build"]!["context"]!;
            var dockerfile = (string?)s.Value!["build"]!["dockerfile"] ?? "Dockerfile";
            Assert.True(Directory.Exists(context), $"{s.Key}: build context {context} does not exist");
            Assert.Equal(Path.GetFullPath(Repo.Root), Path.GetFullPath(context));
            Assert.True(File.Exists(Path.Combine(context, dockerfile)), $"{s.Key}: {dockerfile} does not exist in {context}");
        });
    }

    [ToolFact("docker-compose", "python3")]
    public void Compose_BindMounts_PointAtFilesInTheRepository()
    {
        var binds = new List<(string Service, string Source, string Target)>();
        foreach (var (service, definition) in Services())
        {
            foreach (var volume in definition!["volumes"]?.AsArray() ?? [])
            {
                // Long form {type, source, target} or short form "source:target[:mode]"; named volumes have no path.
                var (source, target) = volume is JsonObject o
                    ? ((string?)o["source"] ?? "", (string?)o["target"] ?? "")
                    : (((string)volume!).Split(':')[0], ((string)volume!).Split(':')[1]);
                if (source.StartsWith('/'))
                {
                    binds.Add((service, source, target));
                }
            }
        }

        Assert.Contains(binds, b => b.Service == "prometheus" && b.Target == "/etc/prometheus" && b.Source == Repo.PathOf("dashboards/prometheus"));
        Assert.Contains(binds, b => b.Service == "grafana" && b.Target == "/etc/grafana/provisioning" && b.Source == Repo.PathOf("dashboards/provisioning"));
        Assert.Contains(binds, b => b.Service == "grafana" && b.Target == "/var/lib/grafana/dashboards/a1fleet" && b.Source == Repo.PathOf("dashboards"));
        Assert.All(binds, b => Assert.True(Directory.Exists(b.Source) || File.Exists(b.Source), $"{b.Service}: {b.Source} does not exist"));
    }

    [ToolFact("docker-compose", "python3")]
    public void Compose_Silos_ClusterThroughRedisOneServingTheModel()
    {
        var services = Services();
        string Env(string service, string key) => (string?)services[service]!["environment"]![key] ?? "";

        foreach (var silo in new[] { "silo-gpu", "silo-cpu" })
        {
            Assert.Equal("redis", Env(silo, "A1Fleet__Silo__Clustering"));
            Assert.Equal("redis", Env(silo, "A1Fleet__Silo__Storage"));
            Assert.Equal("redis:6379", Env(silo, "A1Fleet__Silo__Redis"));
            Assert.Equal("http://+:8080", Env(silo, "ASPNETCORE_URLS"));
        }

        foreach (var silo in new[] { "silo-gpu", "silo-cpu" })
        {
            Assert.Equal("8443", Env(silo, "A1Fleet__RobotGateway__Port"));
        }

        Assert.Equal("true", Env("silo-gpu", "A1Fleet__Silo__Gpu"));
        Assert.Equal("/models/small-fm", Env("silo-gpu", "A1Fleet__Inference__ModelPackages__0"));
        Assert.Equal("false", Env("silo-cpu", "A1Fleet__Silo__Gpu"));
    }

    [ToolFact("docker-compose", "python3")]
    public void Compose_Agents_OnePerEmbodimentThroughTheSilosRobotGatewaysWithTheMetricsPortPrometheusScrapes()
    {
        var services = Services();
        var prometheus = Repo.ReadText("dashboards/prometheus/prometheus.yml");

        foreach (var kind in Embodiments)
        {
            var command = services[$"agent-{kind}"]!["command"]!.AsArray().Select(a => (string)a!).ToList();
            string Arg(string name) => command[command.IndexOf(name) + 1];
            Assert.Equal("http://silo-cpu:8443,http://silo-gpu:8443", Arg("--gateway"));
            Assert.True(services[$"agent-{kind}"]!["environment"]!.AsObject().ContainsKey("A1FLEET_ROBOT_CREDENTIAL"), $"agent-{kind} has no credential variable");
            Assert.Equal(kind, Arg("--embodiment"));
            Assert.Equal($"{kind}-01", Arg("--robot-id"));
            Assert.Contains($"agent-{kind}:{Arg("--metrics-port")}", prometheus, StringComparison.Ordinal);
        }

        Assert.Contains("silo-gpu:8080", prometheus, StringComparison.Ordinal);
        Assert.Contains("silo-cpu:8080", prometheus, StringComparison.Ordinal);
    }
}
