using System.IO.Hashing;
using System.Text;

namespace A1Fleet.Grains;

/// <summary>
/// What an agent must know of the model that drives its arm: sizes of what it sends and receives.
/// Silos register it from the model package when they load the model. Persisted by the model grain:
/// collections are concrete arrays so any storage serializer can read them back.
/// </summary>
[GenerateSerializer, Immutable, Alias("a1.ModelSpec")]
public sealed record ModelSpec(
    [property: Id(0)] string ModelId,
    [property: Id(1)] string ModelVersion,
    [property: Id(2)] int StateDim,
    [property: Id(3)] int ActionDim,
    [property: Id(4)] int Chunk,
    [property: Id(5)] CameraInfo[] Cameras,
    [property: Id(6)] float[] StateQ01,
    [property: Id(7)] float[] StateQ99,
    [property: Id(8)] int Layers,
    [property: Id(9)] int[] ExitLayers);

[GenerateSerializer, Immutable, Alias("a1.CameraInfo")]
public sealed record CameraInfo(
    [property: Id(0)] string Name,
    [property: Id(1)] int Height,
    [property: Id(2)] int Width);

/// <summary>
/// Where a model is served: the GPU silos (<c>SiloAddress.ToParsableString()</c>) that loaded it and registered, less those
/// the cluster has declared dead, and the fastest first-exit time any of them reported (ms; null before the first report).
/// Robot grains cache it and choose among the silos themselves (see the robot grain's inference router).
/// </summary>
[GenerateSerializer, Immutable, Alias("a1.ModelServing")]
public sealed record ModelServing(
    [property: Id(0)] string[] Silos,
    [property: Id(1)] double? FirstExitMs);

/// <summary>
/// The order in which a robot tries the silos serving its model: rendezvous (highest random weight) hashing of
/// (robot id, silo). The same on every silo and every run; adding or losing one of N silos moves only the robots whose
/// first choice it is or becomes (about 1/N), and no option sets it.
/// </summary>
public static class ServingOrder
{
    public static ulong Score(string robotId, string silo) => XxHash64.HashToUInt64(Encoding.UTF8.GetBytes(robotId + "\n" + silo));

    /// <summary><paramref name="silos"/> best first for <paramref name="robotId"/> (ties, never expected, by name).</summary>
    public static IOrderedEnumerable<string> Of(string robotId, IEnumerable<string> silos) =>
        silos.OrderByDescending(s => Score(robotId, s)).ThenBy(s => s, StringComparer.Ordinal);
}
