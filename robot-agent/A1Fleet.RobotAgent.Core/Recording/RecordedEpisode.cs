using A1Fleet.Datasets.Writing;
using A1Fleet.Grains;
using A1Fleet.Motion;

namespace A1Fleet.RobotAgent.Recording;

/// <summary>
/// One finished episode of one arm, in the model's terms: each frame's state is the vector the agent sent the
/// model (the arm's joints mapped by <see cref="Control.ModelAdapter"/>), its action the joint targets executed
/// that tick mapped back to the model's action dims, its images what the model's cameras saw.
/// </summary>
public sealed record RecordedEpisode(string RobotId, Embodiment Embodiment, double Fps, ModelSpec Model, IReadOnlyList<string> JointNames, IReadOnlyList<RecordedFrame> Frames);

/// <summary>What a recorder has written so far, per dataset.</summary>
public sealed record RecordingSummary(IReadOnlyList<RecordedDataset> Datasets, int EpisodesDropped, int EpisodesFailed, string? LastError)
{
    public int EpisodesWritten => Datasets.Sum(d => d.EpisodesWritten);

    public int FramesWritten => Datasets.Sum(d => d.FramesWritten);
}

/// <param name="Directory">The dataset's folder.</param>
/// <param name="EpisodesWritten">Episodes this recorder added.</param>
/// <param name="FramesWritten">Frames this recorder added.</param>
/// <param name="TotalEpisodes">Episodes in the dataset, including those recorded before.</param>
public sealed record RecordedDataset(string Directory, string ModelId, Embodiment Embodiment, int EpisodesWritten, int FramesWritten, int TotalEpisodes);
