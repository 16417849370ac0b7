using System.ComponentModel;
using System.Globalization;

namespace A1Fleet.EarlyExit;

/// <summary>
/// How a request is decoded: the modes the paper compares. Written in configuration, on command lines and in
/// calibration specs by the names <see cref="Decodings.Name"/> gives ("exit-warm-k2", ...), so the converter
/// lets the configuration binder read those names into this enum.
/// </summary>
[TypeConverter(typeof(DecodingConverter))]
public enum Decoding
{
    /// <summary>A1's default: early exit with 2 warm-started Euler steps per exit.</summary>
    ExitWarmK2,
    /// <summary>Early exit, 2 Euler steps from fresh noise at every exit.</summary>
    ExitColdK2,
    /// <summary>Early exit, 10 Euler steps from fresh noise at every exit.</summary>
    ExitColdK10,
    /// <summary>Every layer, then 10 Euler steps once.</summary>
    FullK10,
}

/// <summary>The one list of decoding names and what each means for early exit.</summary>
public static class Decodings
{
    private static readonly Dictionary<string, Decoding> ByName = new(StringComparer.OrdinalIgnoreCase)
    {
        ["exit-warm-k2"] = Decoding.ExitWarmK2,
        ["exit-cold-k2"] = Decoding.ExitColdK2,
        ["exit-cold-k10"] = Decoding.ExitColdK10,
        ["full-k10"] = Decoding.FullK10,
        // Short forms the bench and older configurations use.
        ["exit"] = Decoding.ExitWarmK2,
        ["full"] = Decoding.FullK10,
    };

    /// <summary>The decoding a request gets unless told otherwise.</summary>
    public const Decoding Default = Decoding.ExitWarmK2;

    /// <summary>Every decoding, by its canonical name.</summary>
    public static IReadOnlyList<Decoding> All { get; } = Enum.GetValues<Decoding>();

    public static string Name(Decoding decoding) => decoding switch
    {
        Decoding.ExitWarmK2 => "exit-warm-k2",
        Decoding.ExitColdK2 => "exit-cold-k2",
        Decoding.ExitColdK10 => "exit-cold-k10",
        Decoding.FullK10 => "full-k10",
        _ => throw new ArgumentOutOfRangeException(nameof(decoding), decoding, "not a decoding"),
    };

    /// <summary>Reads a canonical name, a short form ("exit", "full") or the enum's own name ("ExitWarmK2"), any case.</summary>
    public static bool TryParse(string? text, out Decoding decoding)
    {
        if (text is not null && ByName.TryGetValue(text.Trim(), out decoding))
        {
            return true;
        }

        return Enum.TryParse(text, ignoreCase: true, out decoding) && !int.TryParse(text, CultureInfo.InvariantCulture, out _) && Enum.IsDefined(decoding);
    }

    /// <summary>Reads a decoding name; a <see cref="FormatException"/> lists the names when it is none.</summary>
    public static Decoding Parse(string text) =>
        TryParse(text, out var decoding) ? decoding : throw new FormatException($"'{text}' is not a decoding: use one of {string.Join(", ", Names())}");

    /// <summary>Whether the head runs at every exit (what calibration needs).</summary>
    public static bool IsEarlyExit(Decoding decoding) => decoding != Decoding.FullK10;

    /// <summary>The canonical names, for help texts and errors.</summary>
    public static IEnumerable<string> Names(bool earlyExitOnly = false) =>
        All.Where(d => !earlyExitOnly || IsEarlyExit(d)).Select(Name);

    /// <summary>Null when <paramref name="text"/> names an early-exit decoding; otherwise why not.</summary>
    public static string? EarlyExitProblem(string? text, out Decoding? decoding)
    {
        if (!TryParse(text, out var parsed))
        {
            decoding = null;
            return $"decoding '{text}' is unknown: use one of {string.Join(", ", Names(earlyExitOnly: true))}";
        }

        decoding = parsed;
        return IsEarlyExit(parsed) ? null : $"calibration needs an early-exit decoding ({string.Join(", ", Names(earlyExitOnly: true))}); '{text}' runs the head once, at full depth";
    }
}

/// <summary>Lets the configuration binder read <see cref="Decoding"/> from its names ("exit-warm-k2").</summary>
public sealed class DecodingConverter : EnumConverter
{
    public DecodingConverter() : base(typeof(Decoding)) { }

    public override object? ConvertFrom(ITypeDescriptorContext? context, CultureInfo? culture, object value) =>
        value is string text
            ? Decodings.Parse(text)
            : base.ConvertFrom(context, culture, value);

    public override object? ConvertTo(ITypeDescriptorContext? context, CultureInfo? culture, object? value, Type destinationType) =>
        value is Decoding decoding && destinationType == typeof(string) ? Decodings.Name(decoding) : base.ConvertTo(context, culture, value, destinationType);
}
