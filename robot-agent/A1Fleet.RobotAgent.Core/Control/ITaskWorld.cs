namespace A1Fleet.RobotAgent.Control;

/// <summary>
/// A simulated world the arm acts in, with episodes whose outcome the world decides (the tabletop task:
/// <see cref="Tasks.TabletopEpisodes"/>). The control loop advances it once per control period, on the tick, after
/// the period's command; a world that resets the arm for a new episode says so, and the loop drops what it planned
/// and asked for (a chunk computed for the old scene) and takes up from where the arm now is.
/// </summary>
public interface ITaskWorld
{
    /// <param name="instruction">The task the loop runs (null while it has none).</param>
    /// <param name="running">
    /// False while the arm is held by an e-stop, a local stop or a shutdown: the episode's clock stops, and no episode
    /// begins or ends (an e-stopped arm is never reset).
    /// </param>
    /// <returns>True when the world reset the arm for a new episode.</returns>
    bool AfterPeriod(string? instruction, bool running);
}
