using System.Globalization;
using System.Text.Json.Nodes;
using A1Fleet.Deployment.Tests.Support;
using static A1Fleet.Deployment.Tests.Kubernetes.BuiltOverlay;

namespace A1Fleet.Deployment.Tests.Kubernetes;

/// <summary>deploy/k8s: every overlay builds with kubectl kustomize and validates against the Kubernetes schemas
/// (and KEDA's and the Prometheus Operator's for their CRDs), then what Orleans, the fleet and the network need holds.</summary>
public sealed class OverlayTests(OverlaysFixture overlays) : IClassFixture<OverlaysFixture>
{
    public static TheoryData<string> OverlayNames() => [.. OverlaysFixture.Names];

    private static readonly string[] PodVerbs = ["get", "list", "watch", "delete"];

    private static readonly string[] HostingEnv = ["POD_NAME", "POD_NAMESPACE", "POD_IP", "ORLEANS_SERVICE_ID", "ORLEANS_CLUSTER_ID"];

    [OverlayTheory]
    [MemberData(nameof(OverlayNames))]
    public void Overlay_KustomizeAndSchemaValidation_Pass(string overlay)
    {
        var built = overlays[overlay];

        Assert.True(built.Kustomize.ExitCode == 0, $"kubectl kustomize {overlay}:\n{built.Kustomize}");
        Assert.NotNull(built.Validation);
        Assert.True(built.Validation.ExitCode == 0, $"schema validation of {overlay}:\n{built.Validation}");
        Assert.Contains($"{built.Objects.Count} objects, 0 invalid", built.Validation.StdOut, StringComparison.Ordinal);
        Assert.True(built.Objects.Count >= 20, $"{overlay}: only {built.Objects.Count} objects");
    }

    [OverlayTheory]
    [MemberData(nameof(OverlayNames))]
    public void Overlay_NamespacedObjects_AreAllInTheA1fleetNamespace(string overlay)
    {
        var built = overlays[overlay];

        Assert.Contains(built.OfKind("Namespace"), n => (string?)n["metadata"]!["name"] == "a1fleet");
        Assert.All(built.Objects.Where(o => (string?)o["kind"] != "Namespace"),
            o => Assert.True((string?)o["metadata"]!["namespace"] == "a1fleet", $"{overlay}: {o["kind"]} {o["metadata"]!["name"]} is in namespace '{o["metadata"]!["namespace"]}'"));
    }

    [OverlayTheory]
    [MemberData(nameof(OverlayNames))]
    public void Silos_KubernetesHosting_HaveOrleansLabelsDownwardApiEnvAndTheFlag(string overlay)
    {
        var built = overlays[overlay];
        var silos = built.Silos.ToList();

        Assert.Equal(["a1fleet-silo-cpu", "a1fleet-silo-gpu"], silos.Select(s => (string)s["metadata"]!["name"]!).Order(StringComparer.Ordinal));
        var serviceIds = new HashSet<string>();
        foreach (var silo in silos)
        {
            var labels = Labels(PodTemplate(silo));
            var container = Containers(silo).Single();
            var env = Env(container).ToDictionary(e => (string)e["name"]!);
            Assert.True(labels.ContainsKey("orleans/serviceId") && labels.ContainsKey("orleans/clusterId"), $"{overlay}: {silo["metadata"]!["name"]} lacks the orleans/* pod labels");
            serviceIds.Add(labels["orleans/serviceId"] + "/" + labels["orleans/clusterId"]);
            Assert.All(HostingEnv, name => Assert.True(env.ContainsKey(name), $"{silo["metadata"]!["name"]}: env {name} missing"));
            Assert.Equal("metadata.name", (string?)env["POD_NAME"]["valueFrom"]!["fieldRef"]!["fieldPath"]);
            Assert.Equal("metadata.namespace", (string?)env["POD_NAMESPACE"]["valueFrom"]!["fieldRef"]!["fieldPath"]);
            Assert.Equal("status.podIP", (string?)env["POD_IP"]["valueFrom"]!["fieldRef"]!["fieldPath"]);
            Assert.Equal("metadata.labels['orleans/serviceId']", (string?)env["ORLEANS_SERVICE_ID"]["valueFrom"]!["fieldRef"]!["fieldPath"]);
            Assert.Equal("metadata.labels['orleans/clusterId']", (string?)env["ORLEANS_CLUSTER_ID"]["valueFrom"]!["fieldRef"]!["fieldPath"]);
            Assert.Equal("true", built.EnvValue(container, "A1Fleet__Silo__Kubernetes"));
            Assert.Equal("redis", built.EnvValue(container, "A1Fleet__Silo__Clustering"));
            Assert.Equal("redis", built.EnvValue(container, "A1Fleet__Silo__Storage"));
            Assert.Equal("$(POD_IP)", built.EnvValue(container, "A1Fleet__Silo__AdvertisedAddress"));
            Assert.Equal("$(ORLEANS_CLUSTER_ID)", built.EnvValue(container, "A1Fleet__Silo__ClusterId"));
            Assert.Equal("$(ORLEANS_SERVICE_ID)", built.EnvValue(container, "A1Fleet__Silo__ServiceId"));
            Assert.NotNull(built.EnvValue(container, "A1Fleet__Silo__Redis"));
            var ports = container["ports"]!.AsArray().Select(p => (int)p!["containerPort"]!).ToList();
            Assert.Equal([8080, 8443, 11111, 30000], ports.Order());
        }

        Assert.Single(serviceIds);
    }

    [OverlayTheory]
    [MemberData(nameof(OverlayNames))]
    public void Silos_ServiceAccount_IsBoundToARoleThatGetsListsWatchesAndDeletesPods(string overlay)
    {
        var built = overlays[overlay];

        foreach (var silo in built.Silos)
        {
            var account = (string?)PodSpec(silo)["serviceAccountName"];
            Assert.Contains(built.OfKind("ServiceAccount"), a => (string?)a["metadata"]!["name"] == account);
            var bindings = built.OfKind("RoleBinding").Where(b => b["subjects"]!.AsArray().Any(s => (string?)s!["kind"] == "ServiceAccount" && (string?)s["name"] == account)).ToList();
            var verbs = bindings.Select(b => built.Single((string)b["roleRef"]!["kind"]!, (string)b["roleRef"]!["name"]!))
                .SelectMany(r => r["rules"]!.AsArray())
                .Where(rule => rule!["apiGroups"]!.AsArray().Any(g => (string?)g == "") && rule["resources"]!.AsArray().Any(r => (string?)r == "pods"))
                .SelectMany(rule => rule!["verbs"]!.AsArray().Select(v => (string)v!))
                .ToHashSet();
            Assert.True(PodVerbs.All(verbs.Contains), $"{overlay}: {account} may only {string.Join(",", verbs)} pods");
            Assert.DoesNotContain("*", verbs);
        }
    }

    [OverlayTheory]
    [MemberData(nameof(OverlayNames))]
    public void Silos_ProbesAndShutdown_ReadyOnHealthReadyLiveOnHealthLiveGracefulWithinTheGracePeriod(string overlay)
    {
        var built = overlays[overlay];

        foreach (var silo in built.Silos)
        {
            var container = Containers(silo).Single();
            Assert.Equal("/health/ready", (string?)container["readinessProbe"]!["httpGet"]!["path"]);
            Assert.Equal("/health/live", (string?)container["livenessProbe"]!["httpGet"]!["path"]);
            Assert.Equal("/health/live", (string?)container["startupProbe"]!["httpGet"]!["path"]);
            var preStop = container["lifecycle"]!["preStop"]!["exec"]!["command"]!.AsArray().Select(c => (string)c!).ToList();
            Assert.Equal("sleep", preStop[0]);
            var pause = int.Parse(preStop[1], CultureInfo.InvariantCulture);
            var shutdown = int.Parse(built.EnvValue(container, "DOTNET_SHUTDOWNTIMEOUTSECONDS")!, CultureInfo.InvariantCulture);
            var grace = (int)PodSpec(silo)["terminationGracePeriodSeconds"]!;
            Assert.True(pause + shutdown < grace, $"{silo["metadata"]!["name"]}: preStop {pause} s + shutdown {shutdown} s do not fit in the grace period {grace} s");
        }
    }

    [OverlayTheory]
    [MemberData(nameof(OverlayNames))]
    public void PodDisruptionBudgets_EachSiloDeployment_IsCoveredByOne(string overlay)
    {
        var built = overlays[overlay];
        var budgets = built.OfKind("PodDisruptionBudget").ToList();

        Assert.All(built.Silos, silo =>
            Assert.Single(budgets, b => Matches(b["spec"]!["selector"], Labels(PodTemplate(silo)))));
    }

    [OverlayTheory]
    [MemberData(nameof(OverlayNames))]
    public void Services_Selectors_MatchPodsThatHaveTheTargetPorts(string overlay)
    {
        var built = overlays[overlay];

        foreach (var service in built.OfKind("Service"))
        {
            var selected = built.Workloads.Where(w => Matches(new JsonObject { ["matchLabels"] = service["spec"]!["selector"]!.DeepClone() }, Labels(PodTemplate(w)))).ToList();
            Assert.True(selected.Count > 0, $"{overlay}: Service {service["metadata"]!["name"]} selects no pods");
            foreach (var port in service["spec"]!["ports"]!.AsArray())
            {
                var target = port!["targetPort"]!.ToString();
                Assert.All(selected, w => Assert.Contains(Containers(w).SelectMany(c => c["ports"]?.AsArray() ?? []),
                    p => (string?)p!["name"] == target || p!["containerPort"]!.ToString() == target));
            }
        }
    }

    [OverlayTheory]
    [MemberData(nameof(OverlayNames))]
    public void Workloads_EnvVars_HaveOneSourceAndReferenceExistingConfigMapKeys(string overlay)
    {
        var built = overlays[overlay];

        foreach (var workload in built.Workloads)
        {
            foreach (var variable in Containers(workload).SelectMany(Env))
            {
                var where = $"{overlay}: {workload["kind"]} {workload["metadata"]!["name"]} env {variable["name"]}";
                var sources = (variable["value"] is null ? 0 : 1) + (variable["valueFrom"]?.AsObject().Count ?? 0);
                Assert.True(sources == 1, $"{where} has {sources} sources");
                if (variable["valueFrom"]?["configMapKeyRef"] is JsonObject reference)
                {
                    var map = built.Single("ConfigMap", (string)reference["name"]!);
                    Assert.True(map["data"]?[(string)reference["key"]!] is not null, $"{where}: ConfigMap {reference["name"]} has no key {reference["key"]}");
                }
            }

            foreach (var source in Containers(workload).SelectMany(c => c["envFrom"]?.AsArray() ?? []))
            {
                _ = built.Single("ConfigMap", (string)source!["configMapRef"]!["name"]!);
            }
        }
    }

    [OverlayTheory]
    [MemberData(nameof(OverlayNames))]
    public void Workloads_SecurityContext_NonRootNoPrivilegeEscalationReadOnlyRoot(string overlay)
    {
        var built = overlays[overlay];

        foreach (var workload in built.Workloads)
        {
            Assert.True((bool?)PodSpec(workload)["securityContext"]?["runAsNonRoot"] == true, $"{overlay}: {workload["metadata"]!["name"]} may run as root");
            Assert.All(Containers(workload), c =>
            {
                Assert.True((bool?)c["securityContext"]?["allowPrivilegeEscalation"] == false, $"{workload["metadata"]!["name"]}/{c["name"]}: privilege escalation allowed");
                Assert.True((bool?)c["securityContext"]?["readOnlyRootFilesystem"] == true, $"{workload["metadata"]!["name"]}/{c["name"]}: writable root");
                Assert.Contains("ALL", c["securityContext"]!["capabilities"]!["drop"]!.AsArray().Select(x => (string?)x));
            });
        }
    }

    [OverlayTheory]
    [MemberData(nameof(OverlayNames))]
    public void RobotAgents_OneStatefulSetPerEmbodiment_RobotIdFromPodNameMetricsOn9464AnnotatedAndProbed(string overlay)
    {
        var built = overlays[overlay];
        var agents = built.OfKind("StatefulSet").Where(s => Labels(PodTemplate(s)).GetValueOrDefault("a1fleet.io/role") == "robot-agent").ToList();

        Assert.Equal(["agibot", "dobot", "franka", "openarm"], agents.Select(a => Labels(PodTemplate(a))["a1fleet.io/embodiment"]).Order(StringComparer.Ordinal));
        foreach (var agent in agents)
        {
            var args = Containers(agent).Single()["args"]!.AsArray().Select(a => (string)a!).ToList();
            string Arg(string name) => args[args.IndexOf(name) + 1];
            // Agents reach the silos through the robot gateway Service port, with their pod's credential.
            var gateway = new Uri(Arg("--gateway"));
            var service = built.Single("Service", gateway.Host);
            Assert.Contains(service["spec"]!["ports"]!.AsArray(), p => (int)p!["port"]! == gateway.Port);
            Assert.Equal("/var/run/a1fleet/credentials/$(POD_NAME)", Arg("--credential-file"));
            Assert.Equal("$(POD_NAME)", Arg("--robot-id"));
            Assert.Equal(Labels(PodTemplate(agent))["a1fleet.io/embodiment"], Arg("--embodiment"));
            Assert.Equal("9464", Arg("--metrics-port"));
            var annotations = PodTemplate(agent)["metadata"]!["annotations"]!;
            Assert.Equal("true", (string?)annotations["prometheus.io/scrape"]);
            Assert.Equal("9464", (string?)annotations["prometheus.io/port"]);
            var container = Containers(agent).Single();
            Assert.Equal("/health/live", (string?)container["livenessProbe"]!["httpGet"]!["path"]);
            Assert.Equal("/health/ready", (string?)container["readinessProbe"]!["httpGet"]!["path"]);
            Assert.All(new[] { container["livenessProbe"]!, container["readinessProbe"]! }, probe => Assert.Equal("metrics", (string?)probe["httpGet"]!["port"]));
        }

        Assert.All(built.Silos, s => Assert.Equal("8080", (string?)PodTemplate(s)["metadata"]!["annotations"]!["prometheus.io/port"]));
    }

    [OverlayTheory]
    [MemberData(nameof(OverlayNames))]
    public void CalibrationJob_SubmitsToTheSiloServiceWithTheDatasetOnTheVolumeTheGpuSilosMount(string overlay)
    {
        var built = overlays[overlay];
        var job = built.Single("Job", "a1fleet-calibrate");
        var container = Containers(job).Single();
        var args = container["args"]!.AsArray().Select(a => (string)a!).ToList();
        string Arg(string name) => args[args.IndexOf(name) + 1];
        var gpuSilo = built.Single("Deployment", "a1fleet-silo-gpu");
        var siloContainer = Containers(gpuSilo).Single();

        Assert.Equal(["dotnet", "/app/A1Fleet.CalibrationJobs.dll"], container["command"]!.AsArray().Select(c => (string)c!));
        Assert.Equal("calibrate", args[0]);
        // --cluster is the silos' Service, on a port it exposes, and that Service selects every silo.
        var cluster = new Uri(Arg("--cluster"));
        var service = built.Single("Service", cluster.Host);
        Assert.Contains(service["spec"]!["ports"]!.AsArray(), p => (int)p!["port"]! == cluster.Port);
        var selector = service["spec"]!["selector"]!.AsObject().ToDictionary(kv => kv.Key, kv => (string)kv.Value!);
        Assert.All(built.Silos, silo => Assert.True(selector.All(kv => Labels(PodTemplate(silo)).GetValueOrDefault(kv.Key) == kv.Value),
            $"{overlay}: Service {cluster.Host} does not select {silo["metadata"]!["name"]}"));
        // --model is a model the inference silos serve (its package folder is named after its id).
        Assert.Equal(Arg("--model"), Path.GetFileName(built.EnvValue(siloContainer, "A1Fleet__Inference__ModelPackages__0")));

        // --dataset lies on a PVC the GPU silos mount read-only at the same path, and the Job's
        // seeding init container writes it there through the same claim.
        var dataset = Arg("--dataset");
        var (siloVolume, siloMount) = MountOf(gpuSilo, siloContainer, dataset);
        var claim = (string)siloVolume["persistentVolumeClaim"]!["claimName"]!;
        Assert.True((bool?)siloMount["readOnly"] == true, $"{overlay}: the silos should mount the datasets read-only");
        var seeding = PodSpec(job)["initContainers"]!.AsArray().Select(c => c!.AsObject()).Single(c => string.Concat(c["args"]?.AsArray().Select(a => (string)a!) ?? []).Contains("convert-samples", StringComparison.Ordinal));
        var (jobVolume, jobMount) = MountOf(job, seeding, dataset);
        Assert.Equal(claim, (string?)jobVolume["persistentVolumeClaim"]!["claimName"]);
        Assert.Equal((string?)siloMount["mountPath"], (string?)jobMount["mountPath"]);
        Assert.Contains($"--out {dataset}", string.Join(' ', seeding["args"]!.AsArray().Select(a => (string)a!)), StringComparison.Ordinal);
        var pvc = built.Single("PersistentVolumeClaim", claim);
        var accessModes = pvc["spec"]!["accessModes"]!.AsArray().Select(m => (string)m!).ToList();
        Assert.Contains(overlay == "gpu-production" ? "ReadWriteMany" : "ReadWriteOnce", accessModes);

        // A retried pod submits under the same id (the Job's uid), so it attaches to the running job.
        Assert.Equal("a1fleet-calibrate-$(JOB_UID)", Arg("--job-id"));
        var uid = Env(container).Single(e => (string?)e["name"] == "JOB_UID");
        Assert.Equal("metadata.labels['batch.kubernetes.io/controller-uid']", (string?)uid["valueFrom"]!["fieldRef"]!["fieldPath"]);

        // The silos' NetworkPolicies let the Job's pods reach the API port.
        var jobLabels = Labels(PodTemplate(job));
        var http = RulesFor(built.OfKind("NetworkPolicy"), Labels(PodTemplate(gpuSilo))).Where(r => Ports(r).Contains(cluster.Port)).SelectMany(r => r["from"]!.AsArray());
        Assert.Contains(http, peer => peer!["namespaceSelector"] is null && Matches(peer["podSelector"], jobLabels));

        Assert.True((bool?)job["spec"]!["suspend"] == true);
        Assert.Equal("Never", (string?)PodSpec(job)["restartPolicy"]);
        Assert.DoesNotContain("--provider", args);
        Assert.Null(container["resources"]!["limits"]!["nvidia.com/gpu"]);
    }

    [OverlayTheory]
    [MemberData(nameof(OverlayNames))]
    public void CalibrationJobStandalone_RunsTheCalibrationJobsCliOnTheSiloImagesModelSuspendedUntilStarted(string overlay)
    {
        var built = overlays[overlay];
        var job = built.Single("Job", "a1fleet-calibrate-standalone");
        var container = Containers(job).Single();
        var args = container["args"]!.AsArray().Select(a => (string)a!).ToList();
        string Arg(string name) => args[args.IndexOf(name) + 1];
        var init = PodSpec(job)["initContainers"]!.AsArray().Select(c => c!.AsObject()).ToList();
        var siloImage = (string)Containers(built.Single("Deployment", "a1fleet-silo-gpu")).Single()["image"]!;
        var results = PodSpec(job)["volumes"]!.AsArray().Single(v => (string?)v!["name"] == "results")!;

        Assert.Equal(["dotnet", "/app/A1Fleet.CalibrationJobs.dll"], container["command"]!.AsArray().Select(c => (string)c!));
        Assert.Equal("calibrate", args[0]);
        Assert.StartsWith("/results/", Arg("--out"), StringComparison.Ordinal);
        Assert.Equal(overlay == "gpu-production" ? "cuda" : "cpu", Arg("--provider"));
        Assert.Equal(Arg("--model"), "/work/models/" + Path.GetFileName(Arg("--model")));
        Assert.Contains(init, c => (string?)c["image"] == siloImage && c["command"]!.AsArray().Select(x => (string)x!).SequenceEqual(["cp", "-R", "/models/.", "/work/models/"]));
        Assert.Contains(init, c => c["args"]?.AsArray().Select(x => (string)x!).FirstOrDefault() == "convert-samples");
        Assert.Contains(built.OfKind("PersistentVolumeClaim"), p => (string?)p["metadata"]!["name"] == (string?)results["persistentVolumeClaim"]!["claimName"]);
        Assert.True((bool?)job["spec"]!["suspend"] == true);
        Assert.Equal("Never", (string?)PodSpec(job)["restartPolicy"]);
        Assert.DoesNotContain("--cluster", args);
        Assert.True(File.Exists(Repo.PathOf("calibration-jobs/A1Fleet.CalibrationJobs/A1Fleet.CalibrationJobs.csproj")));
        if (overlay == "gpu-production")
        {
            Assert.Equal("1", (string?)container["resources"]!["limits"]!["nvidia.com/gpu"]);
        }
    }

    [OverlayTheory]
    [MemberData(nameof(OverlayNames))]
    public void Secrets_SilosTakeTheBootstrapAdminKeyAndTheCalibrationJobItsKey_FromSecretsNotFromTheRepository(string overlay)
    {
        var built = overlays[overlay];
        foreach (var silo in built.Silos)
        {
            var env = Containers(silo).Single()["env"]!.AsArray();
            var admin = env.Single(e => (string?)e!["name"] == "A1Fleet__Security__BootstrapAdminKey")!;
            Assert.Null(admin["value"]);
            Assert.Equal("a1fleet-admin-key", (string?)admin["valueFrom"]!["secretKeyRef"]!["name"]);
        }

        var job = built.Single("Job", "a1fleet-calibrate");
        var key = Containers(job).SelectMany(c => c["env"]?.AsArray() ?? []).Single(e => (string?)e!["name"] == "A1FLEET_API_KEY")!;
        Assert.Equal("a1fleet-calibration-key", (string?)key["valueFrom"]!["secretKeyRef"]!["name"]);
        Assert.DoesNotContain(built.OfKind("Secret"), s => (string?)s["metadata"]!["name"] is "a1fleet-admin-key" or "a1fleet-calibration-key");
    }

    [OverlayTheory]
    [MemberData(nameof(OverlayNames))]
    public void NetworkPolicies_OrleansPortsOnlyFromSilosAndMetricsOnlyFromPrometheus(string overlay)
    {
        var built = overlays[overlay];
        var policies = built.OfKind("NetworkPolicy").ToList();

        Assert.Contains(policies, p => p["spec"]!["podSelector"]!.AsObject().Count == 0 && p["spec"]!["ingress"] is null);
        foreach (var silo in built.Silos)
        {
            var rules = RulesFor(policies, Labels(PodTemplate(silo))).ToList();
            foreach (var port in new[] { 11111, 30000 })
            {
                var allowed = rules.Where(r => Ports(r).Contains(port)).SelectMany(r => r["from"]!.AsArray()).ToList();
                Assert.NotEmpty(allowed);
                // Internal ports: no address block, no other namespace, no role but silo.
                Assert.All(allowed, peer =>
                {
                    Assert.Null(peer!["ipBlock"]);
                    Assert.Null(peer["namespaceSelector"]);
                    Assert.Null(peer["podSelector"]!["matchExpressions"]);
                    Assert.Equal("silo", (string?)peer["podSelector"]!["matchLabels"]!["a1fleet.io/role"]);
                });
            }

            var http = rules.Where(r => Ports(r).Contains(8080)).SelectMany(r => r["from"]!.AsArray()).ToList();
            Assert.Contains(http, peer => (string?)peer!["podSelector"]?["matchLabels"]?["app.kubernetes.io/name"] == "prometheus");
            Assert.All(http, peer => Assert.True(
                (string?)peer!["podSelector"]?["matchLabels"]?["app.kubernetes.io/name"] == "prometheus" ||
                (string?)peer["podSelector"]?["matchLabels"]?["a1fleet.io/role"] is "operator" or "calibration" ||
                (string?)peer["namespaceSelector"]?["matchLabels"]?["a1fleet.io/operators"] == "true",
                $"{overlay}: silo HTTP is open to {peer.ToJsonString()}"));

            // The robot gateway: robot agents, and in production the robot cells' addresses; nobody else.
            var gateway = rules.Where(r => Ports(r).Contains(8443)).SelectMany(r => r["from"]!.AsArray()).ToList();
            Assert.Contains(gateway, peer => (string?)peer!["podSelector"]?["matchLabels"]?["a1fleet.io/role"] == "robot-agent");
            Assert.All(gateway, peer => Assert.True(
                (string?)peer!["podSelector"]?["matchLabels"]?["a1fleet.io/role"] == "robot-agent" ||
                (overlay == "gpu-production" && peer["ipBlock"] is not null),
                $"{overlay}: the robot gateway is open to {peer.ToJsonString()}"));
        }

        foreach (var workload in built.Workloads.Where(w => Labels(PodTemplate(w)).GetValueOrDefault("a1fleet.io/role") == "robot-agent"))
        {
            var metrics = RulesFor(policies, Labels(PodTemplate(workload))).Where(r => Ports(r).Contains(9464)).SelectMany(r => r["from"]!.AsArray()).ToList();
            Assert.NotEmpty(metrics);
            Assert.All(metrics, peer =>
            {
                Assert.Equal("prometheus", (string?)peer!["podSelector"]?["matchLabels"]?["app.kubernetes.io/name"]);
                Assert.Equal("monitoring", (string?)peer["namespaceSelector"]?["matchLabels"]?["kubernetes.io/metadata.name"]);
            });
        }
    }

    [OverlayFact]
    public void CpuDemo_RedisAndInference_RedisStatefulSetInNamespaceAndCpuProviderWithoutGpus()
    {
        var built = overlays["cpu-demo"];
        var redis = built.Single("StatefulSet", "redis");
        var gpuSilo = built.Single("Deployment", "a1fleet-silo-gpu");
        var container = Containers(gpuSilo).Single();

        Assert.Equal(6379, (int)Containers(redis).Single()["ports"]![0]!["containerPort"]!);
        Assert.NotNull(redis["spec"]!["volumeClaimTemplates"]);
        var redisArgs = Containers(redis).Single()["args"]!.AsArray().Select(a => (string)a!).ToList();
        Assert.Equal("yes", redisArgs[redisArgs.IndexOf("--appendonly") + 1]);
        Assert.Equal("always", redisArgs[redisArgs.IndexOf("--appendfsync") + 1]);
        Assert.Equal("noeviction", redisArgs[redisArgs.IndexOf("--maxmemory-policy") + 1]);
        Assert.Equal("/data", redisArgs[redisArgs.IndexOf("--dir") + 1]);
        Assert.Equal("redis:6379", built.EnvValue(container, "A1Fleet__Silo__Redis"));
        Assert.Contains(built.OfKind("Service"), s => (string?)s["metadata"]!["name"] == "redis");
        Assert.Equal("cpu", built.EnvValue(container, "A1Fleet__Inference__Engine__ExecutionProvider"));
        Assert.Equal("true", built.EnvValue(container, "A1Fleet__Silo__Gpu"));
        Assert.DoesNotContain("nvidia.com/gpu", string.Concat(built.Workloads.Select(w => w.ToJsonString())), StringComparison.Ordinal);
        Assert.Empty(built.OfKind("ScaledObject"));
        Assert.Empty(built.OfKind("ServiceMonitor"));
        Assert.Equal("false", built.EnvValue(Containers(built.Single("Deployment", "a1fleet-silo-cpu")).Single(), "A1Fleet__Silo__Gpu"));
    }

    [OverlayFact]
    public void GpuProduction_InferenceSilos_OneGpuEachOnTheGpuPoolWithCuda()
    {
        var built = overlays["gpu-production"];
        var silo = built.Single("Deployment", "a1fleet-silo-gpu");
        var container = Containers(silo).Single();
        var spec = PodSpec(silo);

        Assert.Equal("1", (string?)container["resources"]!["limits"]!["nvidia.com/gpu"]);
        Assert.Equal("1", (string?)container["resources"]!["requests"]!["nvidia.com/gpu"]);
        Assert.NotEmpty(spec["nodeSelector"]!.AsObject());
        Assert.Contains(spec["tolerations"]!.AsArray(), t => (string?)t!["key"] == "nvidia.com/gpu" && (string?)t["effect"] == "NoSchedule");
        Assert.Equal("cuda", built.EnvValue(container, "A1Fleet__Inference__Engine__ExecutionProvider"));
        Assert.Equal("true", built.EnvValue(container, "A1Fleet__Silo__Gpu"));
        Assert.EndsWith("-gpu", (string)container["image"]!, StringComparison.Ordinal);
        var cpuSilo = Containers(built.Single("Deployment", "a1fleet-silo-cpu")).Single();
        Assert.Null(cpuSilo["resources"]!["limits"]!["nvidia.com/gpu"]);
    }

    [OverlayFact]
    public void GpuProduction_Redis_IsManagedThroughASecretForEveryClusterMember()
    {
        var built = overlays["gpu-production"];

        Assert.DoesNotContain(built.OfKind("StatefulSet"), s => (string?)s["metadata"]!["name"] == "redis");
        foreach (var workload in built.Workloads)
        {
            foreach (var variable in Containers(workload).SelectMany(Env).Where(e => (string?)e["name"] is "A1Fleet__Silo__Redis" or "A1FLEET_REDIS"))
            {
                Assert.Equal("a1fleet-redis", (string?)variable["valueFrom"]?["secretKeyRef"]?["name"]);
            }
        }

        Assert.All(built.Silos, s => Assert.Contains(Env(Containers(s).Single()), e => (string?)e["name"] == "A1Fleet__Silo__Redis"));
    }

    [OverlayFact]
    public void GpuProduction_ScaledObject_ScalesTheInferenceSilosOnFleetMetrics()
    {
        var built = overlays["gpu-production"];
        var scaled = built.OfKind("ScaledObject").Single();
        var target = (string)scaled["spec"]!["scaleTargetRef"]!["name"]!;
        var config = built.Single("ConfigMap", "a1fleet-silo-config")["data"]!.AsObject();
        var triggers = scaled["spec"]!["triggers"]!.AsArray();

        Assert.Equal("a1fleet-silo-gpu", target);
        Assert.NotNull(built.Single("Deployment", target));
        Assert.True((int)scaled["spec"]!["minReplicaCount"]! >= 1);
        Assert.True((int)scaled["spec"]!["maxReplicaCount"]! >= (int)scaled["spec"]!["minReplicaCount"]!);
        // Added GPU silos take a share by themselves: the partition count that once bounded them is gone, and a
        // leftover key would only mislead (options binding ignores it).
        Assert.DoesNotContain(config, kv => kv.Key.Contains("InferencePartitions", StringComparison.Ordinal));
        Assert.All(triggers, t =>
        {
            Assert.Equal("prometheus", (string?)t!["type"]);
            Assert.Equal("Value", (string?)t["metricType"]);
            Assert.Contains("a1fleet_inference_", (string)t["metadata"]!["query"]!, StringComparison.Ordinal);
            Assert.True(double.TryParse((string?)t["metadata"]!["threshold"], CultureInfo.InvariantCulture, out _));
        });
        Assert.Empty(built.OfKind("HorizontalPodAutoscaler"));
    }

    [OverlayFact]
    public void GpuProduction_ServiceMonitors_SelectServicesByNamedPortsWithTheDashboardsJobNames()
    {
        var built = overlays["gpu-production"];

        foreach (var monitor in built.OfKind("ServiceMonitor"))
        {
            var services = built.OfKind("Service").Where(s => Matches(monitor["spec"]!["selector"], Labels(s))).ToList();
            var service = Assert.Single(services);
            Assert.Equal("a1fleet.io/scrape-job", (string?)monitor["spec"]!["jobLabel"]);
            Assert.StartsWith("a1fleet-", Labels(service)["a1fleet.io/scrape-job"], StringComparison.Ordinal);
            Assert.All(monitor["spec"]!["endpoints"]!.AsArray(), e => Assert.Contains(service["spec"]!["ports"]!.AsArray(), p => (string?)p!["name"] == (string?)e!["port"]));
        }

        Assert.Equal(["a1fleet-agent", "a1fleet-silo"], built.OfKind("ServiceMonitor")
            .Select(m => Labels(built.OfKind("Service").Single(s => Matches(m["spec"]!["selector"], Labels(s))))["a1fleet.io/scrape-job"]).Order(StringComparer.Ordinal));
    }

    [OverlayFact]
    public void GpuProduction_PrometheusRule_HasTheRulesOfTheAlertsFile()
    {
        var rule = overlays["gpu-production"].OfKind("PrometheusRule").Single();
        var alerts = OverlaysFixture.YamlToJson(Repo.PathOf("dashboards/prometheus/alerts.yml"))[0]!;

        Assert.True(JsonNode.DeepEquals(alerts["groups"], rule["spec"]!["groups"]),
            "deploy/k8s/components/prometheus-operator/prometheus-rule.yaml differs from dashboards/prometheus/alerts.yml");
    }

    private static IEnumerable<JsonNode> RulesFor(IEnumerable<JsonObject> policies, IReadOnlyDictionary<string, string> podLabels) =>
        policies.Where(p => Matches(p["spec"]!["podSelector"], podLabels) || p["spec"]!["podSelector"]!.AsObject().Count == 0)
            .SelectMany(p => p["spec"]!["ingress"]?.AsArray() ?? []).Select(r => r!);

    /// <summary>The volume and the container's mount that hold <paramref name="path"/> (the longest mount path above it).</summary>
    private static (JsonObject Volume, JsonObject Mount) MountOf(JsonObject workload, JsonObject container, string path)
    {
        var mount = (container["volumeMounts"]?.AsArray() ?? []).Select(m => m!.AsObject())
            .Where(m => path.StartsWith(((string)m["mountPath"]!).TrimEnd('/') + "/", StringComparison.Ordinal))
            .MaxBy(m => ((string)m["mountPath"]!).Length)
            ?? throw new InvalidOperationException($"{workload["metadata"]!["name"]}/{container["name"]}: no volume mounted above {path}");
        var volume = PodSpec(workload)["volumes"]!.AsArray().Select(v => v!.AsObject()).Single(v => (string?)v["name"] == (string?)mount["name"]);
        return (volume, mount);
    }

    private static List<int> Ports(JsonNode rule) => (rule["ports"]?.AsArray() ?? []).Select(p => (int)p!["port"]!).ToList();
}
