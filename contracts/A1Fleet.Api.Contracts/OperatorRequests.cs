namespace A1Fleet.Api.Contracts;

/// <summary>Body of <c>POST /api/assignments</c>. Who acts is the API key's name, not a field: a "by" in the body is ignored.</summary>
public sealed record AssignTaskRequest(string Selector, string Instruction);

/// <summary>Body of <c>POST /api/budget</c>.</summary>
public sealed record SetBudgetRequest(string Selector, double BudgetMs);

/// <summary>An e-stop or resume: <see cref="DeadlineMs"/> bounds how long unconfirmed robots are retried (server default when absent).</summary>
public sealed record SafetyCommandRequest(string Selector, double? DeadlineMs = null);

/// <summary>Ends a robot's lease; with <see cref="SuccessorAgentId"/> only that agent may bind next (a take).</summary>
public sealed record LeaseReleaseRequest(string? SuccessorAgentId = null);

/// <summary>Body of <c>POST /api/models/{id}/live</c>: the threshold version to serve.</summary>
public sealed record SetLiveRequest(string Version);

/// <summary>Which robots a command reached; an assignment also names the standing assignment it stored.</summary>
public sealed record CommandResponse(IReadOnlyList<string> Robots, long? AssignmentId = null, string? Message = null);
