using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using G = A1Fleet.Grains;
using P = A1Fleet.RobotGateway.V1;

namespace A1Fleet.RobotGateway;

/// <summary>
/// The one translation between the gateway's messages and the grain contracts, used by both ends.
/// Enums are mapped by name, never by number: the proto reserves 0 for "unspecified", the contracts do not.
/// </summary>
public static class RobotGatewayMapping
{
    public static P.Embodiment ToProto(this G.Embodiment embodiment) => embodiment switch
    {
        G.Embodiment.Franka => P.Embodiment.Franka,
        G.Embodiment.AgiBot => P.Embodiment.Agibot,
        G.Embodiment.OpenArm => P.Embodiment.Openarm,
        G.Embodiment.Dobot => P.Embodiment.Dobot,
        _ => P.Embodiment.Unspecified,
    };

    /// <summary>Null for "unspecified" or a value this build does not know.</summary>
    public static G.Embodiment? FromProto(this P.Embodiment embodiment) => embodiment switch
    {
        P.Embodiment.Franka => G.Embodiment.Franka,
        P.Embodiment.Agibot => G.Embodiment.AgiBot,
        P.Embodiment.Openarm => G.Embodiment.OpenArm,
        P.Embodiment.Dobot => G.Embodiment.Dobot,
        _ => null,
    };

    public static P.BindRequest ToProto(this G.AgentRegistration r, string robotId)
    {
        var request = new P.BindRequest
        {
            RobotId = robotId,
            AgentId = r.AgentId,
            Embodiment = r.Embodiment.ToProto(),
            ModelId = r.ModelId,
            StateDim = r.StateDim,
            ActionDim = r.ActionDim,
            ControlHz = r.ControlHz,
        };
        request.Cameras.AddRange(r.Cameras);
        request.Tags.AddRange(r.Tags);
        return request;
    }

    public static P.Lease ToProto(this G.RobotLease lease) => new()
    {
        RobotId = lease.RobotId,
        Epoch = lease.Epoch,
        LatencyBudgetMs = lease.LatencyBudgetMs,
        Task = lease.Task?.ToProto(),
        EStopped = lease.EStopped,
        EStopGeneration = lease.EStopGeneration,
        Model = lease.Model.ToProto(),
    };

    public static G.RobotLease FromProto(this P.Lease lease) => new(lease.RobotId, lease.Epoch, lease.LatencyBudgetMs, lease.Task?.FromProto(), lease.EStopped,
        (lease.Model ?? throw new InvalidDataException("the gateway's lease has no model")).FromProto(), lease.EStopGeneration);

    public static P.RobotTask ToProto(this G.RobotTask task) => new()
    {
        Instruction = task.Instruction,
        Since = Timestamp.FromDateTimeOffset(task.Since),
        AssignedBy = task.AssignedBy,
        Version = task.Version,
    };

    public static G.RobotTask FromProto(this P.RobotTask task) =>
        new(task.Instruction, task.Since?.ToDateTimeOffset() ?? DateTimeOffset.UnixEpoch, task.AssignedBy, task.Version);

    public static P.ModelSpec ToProto(this G.ModelSpec spec)
    {
        var proto = new P.ModelSpec
        {
            ModelId = spec.ModelId,
            ModelVersion = spec.ModelVersion,
            StateDim = spec.StateDim,
            ActionDim = spec.ActionDim,
            Chunk = spec.Chunk,
            Layers = spec.Layers,
        };
        proto.Cameras.AddRange(spec.Cameras.Select(c => new P.CameraInfo { Name = c.Name, Height = c.Height, Width = c.Width }));
        proto.StateQ01.AddRange(spec.StateQ01);
        proto.StateQ99.AddRange(spec.StateQ99);
        proto.ExitLayers.AddRange(spec.ExitLayers);
        return proto;
    }

    public static G.ModelSpec FromProto(this P.ModelSpec spec) => new(spec.ModelId, spec.ModelVersion, spec.StateDim, spec.ActionDim, spec.Chunk,
        [.. spec.Cameras.Select(c => new G.CameraInfo(c.Name, c.Height, c.Width))], [.. spec.StateQ01], [.. spec.StateQ99], spec.Layers, [.. spec.ExitLayers]);

    public static P.Observation ToProto(this G.Observation observation)
    {
        var proto = new P.Observation { Sequence = observation.Sequence, CapturedAt = Timestamp.FromDateTimeOffset(observation.CapturedAt) };
        proto.State.AddRange(observation.State);
        foreach (var image in observation.Images)
        {
            proto.Images.Add(UnsafeByteOperations.UnsafeWrap(image));
        }

        if (observation.ActionsHeld is { } held)
        {
            proto.ActionsHeld = held;
        }

        return proto;
    }

    public static G.Observation FromProto(this P.Observation observation) => new(observation.Sequence, [.. observation.State],
        [.. observation.Images.Select(i => i.ToByteArray())], observation.CapturedAt?.ToDateTimeOffset() ?? DateTimeOffset.UnixEpoch,
        ActionsHeld: observation.HasActionsHeld ? observation.ActionsHeld : null);

    public static P.ActReply ToProto(this G.ActionChunk chunk)
    {
        var reply = new P.ActReply
        {
            Sequence = chunk.Sequence,
            Status = chunk.Status switch
            {
                G.ChunkStatus.Ok => P.ChunkStatus.Ok,
                G.ChunkStatus.Hold => P.ChunkStatus.Hold,
                G.ChunkStatus.LeaseLost => P.ChunkStatus.LeaseLost,
                G.ChunkStatus.Refused => P.ChunkStatus.Refused,
                _ => P.ChunkStatus.Error,
            },
            Chunk = chunk.Chunk,
            ActionDim = chunk.ActionDim,
            Stats = chunk.Stats?.ToProto(),
            Task = chunk.Task?.ToProto(),
            EStopped = chunk.EStopped,
            Error = chunk.Error ?? "",
            Epoch = chunk.Epoch,
            TaskVersion = chunk.TaskVersion,
            EStopGeneration = chunk.EStopGeneration,
            CommandsStreamMissing = chunk.ObserverMissing,
            RetryAfterMs = chunk.RetryAfterMs,
        };
        reply.Actions.AddRange(chunk.Actions);
        return reply;
    }

    public static G.ActionChunk FromProto(this P.ActReply reply) => new(reply.Sequence,
        reply.Status switch
        {
            P.ChunkStatus.Ok => G.ChunkStatus.Ok,
            P.ChunkStatus.Hold => G.ChunkStatus.Hold,
            P.ChunkStatus.LeaseLost => G.ChunkStatus.LeaseLost,
            P.ChunkStatus.Refused => G.ChunkStatus.Refused,
            _ => G.ChunkStatus.Error,
        },
        [.. reply.Actions], reply.Chunk, reply.ActionDim, reply.Stats?.FromProto(), reply.Task?.FromProto(), reply.EStopped,
        string.IsNullOrEmpty(reply.Error) ? null : reply.Error, reply.CommandsStreamMissing, reply.Epoch, reply.TaskVersion, reply.EStopGeneration,
        double.IsFinite(reply.RetryAfterMs) && reply.RetryAfterMs > 0 ? reply.RetryAfterMs : 0);

    public static P.InferenceStats ToProto(this G.InferenceStats s) => new()
    {
        ExitLayer = s.ExitLayer,
        LayersRun = s.LayersRun,
        Layers = s.Layers,
        DenoisingSteps = s.DenoisingSteps,
        QueueMs = s.QueueMs,
        EngineMs = s.EngineMs,
        TotalMs = s.TotalMs,
        BudgetMissed = s.BudgetMissed,
        BatchSize = s.BatchSize,
        ThresholdVersion = s.ThresholdVersion,
        LayerCap = s.LayerCap,
        ForcedExit = s.ForcedExit,
    };

    public static G.InferenceStats FromProto(this P.InferenceStats s) =>
        new(s.ExitLayer, s.LayersRun, s.Layers, s.DenoisingSteps, s.QueueMs, s.EngineMs, s.TotalMs, s.BudgetMissed, s.BatchSize, s.ThresholdVersion, s.LayerCap, s.ForcedExit);

    public static P.AgentCounters ToProto(this G.AgentCounters c) => new()
    {
        ControlTicks = c.ControlTicks,
        HoldTicks = c.HoldTicks,
        ClampedActions = c.ClampedActions,
        IdleGaps = c.IdleGaps,
        MaxSpliceJump = c.MaxSpliceJump,
        ChunksExecuted = c.ChunksExecuted,
        Episodes = c.Episodes,
        Successes = c.Successes,
    };

    public static G.AgentCounters FromProto(this P.AgentCounters c) =>
        new(c.ControlTicks, c.HoldTicks, c.ClampedActions, c.IdleGaps, c.MaxSpliceJump, c.ChunksExecuted, c.Episodes, c.Successes);

    public static P.RobotCommand ToProto(this G.RobotCommand command) => new()
    {
        Kind = command.Kind switch
        {
            G.RobotCommandKind.EStop => P.RobotCommandKind.EStop,
            G.RobotCommandKind.Resume => P.RobotCommandKind.Resume,
            G.RobotCommandKind.TaskChanged => P.RobotCommandKind.TaskChanged,
            G.RobotCommandKind.BudgetChanged => P.RobotCommandKind.BudgetChanged,
            G.RobotCommandKind.LeaseRevoked => P.RobotCommandKind.LeaseRevoked,
            _ => P.RobotCommandKind.Unspecified,
        },
        Task = command.Task?.ToProto(),
        LatencyBudgetMs = command.LatencyBudgetMs,
        Epoch = command.Epoch,
        EStopGeneration = command.EStopGeneration,
    };

    /// <summary>Null for a kind this build does not know (a newer server): the caller skips it.</summary>
    public static G.RobotCommand? FromProto(this P.RobotCommand command)
    {
        G.RobotCommandKind? kind = command.Kind switch
        {
            P.RobotCommandKind.EStop => G.RobotCommandKind.EStop,
            P.RobotCommandKind.Resume => G.RobotCommandKind.Resume,
            P.RobotCommandKind.TaskChanged => G.RobotCommandKind.TaskChanged,
            P.RobotCommandKind.BudgetChanged => G.RobotCommandKind.BudgetChanged,
            P.RobotCommandKind.LeaseRevoked => G.RobotCommandKind.LeaseRevoked,
            _ => null,
        };
        return kind is { } k ? new G.RobotCommand(k, command.Task?.FromProto(), command.LatencyBudgetMs, command.Epoch, command.EStopGeneration) : null;
    }
}
