using Microsoft.ML.OnnxRuntime;

namespace A1Fleet.Engine.Onnx;

/// <summary>
/// One ONNX Runtime environment per process with a global intra-op pool: an engine holds dozens of
/// sessions (one per layer), and per-session pools would put dozens of spinning threads on each core.
/// </summary>
internal static class OrtRuntime
{
    private static readonly Lock Gate = new();

    /// <summary>
    /// The intra-op pool size the process's environment was created with (<see cref="IntraOpPool.Size"/>; 0: ONNX Runtime's
    /// default); null before the first engine loads. The first engine loaded in a process decides it for all.
    /// </summary>
    public static int? IntraOpThreads { get; private set; }

    public static void EnsureEnvironment(int intraOpThreads)
    {
        lock (Gate)
        {
            if (OrtEnv.IsCreated)
            {
                return;
            }

            var size = IntraOpPool.Size(intraOpThreads, Environment.ProcessorCount, IntraOpPool.OnlineProcessors());
            using var threading = new OrtThreadingOptions
            {
                GlobalIntraOpNumThreads = size,
                GlobalInterOpNumThreads = 1,
                // Spinning between the many short per-layer runs burns the core another request needs.
                GlobalSpinControl = false,
            };
            var options = new EnvironmentCreationOptions
            {
                logId = "a1fleet",
                logLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING,
                threadOptions = threading,
            };
            OrtEnv.CreateInstanceWithOptions(ref options);
            IntraOpThreads = size;
        }
    }

    public static SessionOptions CreateSessionOptions(EngineOptions engine)
    {
        var options = new SessionOptions
        {
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING,
        };
        options.DisablePerSessionThreads();
        if (engine.ExecutionProvider == "cuda")
        {
            try
            {
                options.AppendExecutionProvider_CUDA(engine.CudaDeviceId);
            }
            catch (Exception ex) when (ex is OnnxRuntimeException or EntryPointNotFoundException or DllNotFoundException)
            {
                options.Dispose();
                throw new InvalidOperationException(
                    "ExecutionProvider 'cuda' was asked for, but this build's ONNX Runtime has no CUDA provider. " +
                    "Build with -p:A1OnnxRuntimePackage=Microsoft.ML.OnnxRuntime.Gpu (docs/gpu.md).", ex);
            }
        }

        return options;
    }
}
