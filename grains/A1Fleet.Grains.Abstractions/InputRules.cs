using System.Globalization;

namespace A1Fleet.Grains;

/// <summary>
/// The limits on what an operator (or a robot) may send, written once: the operator API, a1ctl and the
/// grains all call these, so a value one of them accepts is accepted by the others. Each check returns
/// null when the value is fine, or a message naming the field and the rule.
/// </summary>
public static class InputRules
{
    /// <summary>Longest task instruction in characters: a sentence or a short paragraph, far below what a tokenizer would truncate anyway.</summary>
    public const int MaxInstructionLength = 500;

    /// <summary>Longest selector text (all, robot:ID, tag:NAME, embodiment:KIND).</summary>
    public const int MaxSelectorLength = 128;

    /// <summary>Longest robot id, key name or job id.</summary>
    public const int MaxIdLength = 64;

    /// <summary>Largest latency budget: a minute. Beyond it a robot would hold rather than wait.</summary>
    public const double MaxLatencyBudgetMs = 60_000;

    /// <summary>
    /// The budget floor the grains enforce on their own: 1 µs, only to keep zero, negative and denormal values out
    /// of state (tests use budgets nobody meets to force the first exit). The operator API applies the real floor,
    /// configured (A1Fleet:Api:MinLatencyBudgetMs), which stands for the model's first-exit time.
    /// </summary>
    public const double MinLatencyBudgetMs = 0.001;

    /// <summary>A latency budget in ms: finite, within [<paramref name="floorMs"/>, <see cref="MaxLatencyBudgetMs"/>].</summary>
    public static string? LatencyBudget(double budgetMs, double floorMs = MinLatencyBudgetMs, string field = "budgetMs") =>
        double.IsFinite(budgetMs) && budgetMs >= floorMs && budgetMs <= MaxLatencyBudgetMs
            ? null
            : $"{field} {budgetMs.ToString(CultureInfo.InvariantCulture)} ms is invalid: use a finite value within [{floorMs.ToString(CultureInfo.InvariantCulture)}, {MaxLatencyBudgetMs.ToString(CultureInfo.InvariantCulture)}] ms";

    /// <summary>
    /// An observation's age as its sender states it (ms on the sender's monotonic clock): finite, within
    /// [0, <see cref="MaxLatencyBudgetMs"/>]; older than the largest budget it could never be answered in time anyway.
    /// </summary>
    public static string? ObservationAge(double ageMs, string field = "observation_age_ms") =>
        double.IsFinite(ageMs) && ageMs >= 0 && ageMs <= MaxLatencyBudgetMs
            ? null
            : $"{field} {ageMs.ToString(CultureInfo.InvariantCulture)} ms is invalid: use a finite value within [0, {MaxLatencyBudgetMs.ToString(CultureInfo.InvariantCulture)}] ms, measured on the agent's monotonic clock from capture to send";

    /// <summary>
    /// The actions an agent reports it held at capture (<see cref="Observation.ActionsHeld"/>): within [0, the model's
    /// chunk]; an arm never holds more than one chunk, and the count orders its request ahead of others. With the chunk
    /// unknown (null: a robot grain reactivated since its agent bound), only the lower bound is checked.
    /// </summary>
    public static string? ActionsHeld(int held, int? chunk, string field = "observation.actions_held") =>
        held >= 0 && held <= (chunk ?? int.MaxValue)
            ? null
            : chunk is { } c
                ? $"{field} {held} is invalid: an arm holds at most one chunk of the model's actions, so use a count within [0, {c}]"
                : $"{field} {held} is invalid: use a count of actions of 0 or more";

    /// <summary>A task instruction: not empty, at most <see cref="MaxInstructionLength"/> characters, no control or bidi-override characters.</summary>
    public static string? Instruction(string? instruction, string field = "instruction")
    {
        if (string.IsNullOrWhiteSpace(instruction))
        {
            return $"{field} is empty";
        }

        if (instruction.Length > MaxInstructionLength)
        {
            return $"{field} is {instruction.Length} characters long: at most {MaxInstructionLength} are accepted";
        }

        return UnsafeCharacter(instruction) is { } at
            ? $"{field} contains a control character (U+{(int)instruction[at]:X4} at position {at}): instructions are shown in operators' terminals, so control and bidi-override characters are refused"
            : null;
    }

    /// <summary>A name (API key, credential) or id: 1..<see cref="MaxIdLength"/> of letters, digits, '.', '_', '-', '@'.</summary>
    public static string? Name(string? name, string field)
    {
        if (string.IsNullOrEmpty(name))
        {
            return $"{field} is empty";
        }

        if (name.Length > MaxIdLength)
        {
            return $"{field} is {name.Length} characters long: at most {MaxIdLength} are accepted";
        }

        return name.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' or '@')
            ? null
            : $"{field} '{Printable.Escape(name)}' may contain only letters, digits, '.', '_', '-' and '@'";
    }

    /// <summary>Index of the first character a terminal would interpret (C0/C1 controls, bidi overrides and isolates), or null.</summary>
    public static int? UnsafeCharacter(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (Printable.IsUnsafe(text[i]))
            {
                return i;
            }
        }

        return null;
    }
}

/// <summary>Text made safe to print in a terminal: what a1ctl and logs do with anything a client sent.</summary>
public static class Printable
{
    /// <summary>C0/C1 control characters and the bidi overrides and isolates that reorder what a terminal shows.</summary>
    public static bool IsUnsafe(char c) => char.IsControl(c) || c is >= '\u202A' and <= '\u202E' or >= '\u2066' and <= '\u2069';

    /// <summary>
    /// The text with every unsafe character written as \uXXXX. Backslashes are left alone: the escape is for
    /// terminals, not a reversible encoding, and text may pass through it twice (server message, then a1ctl).
    /// </summary>
    public static string Escape(string? text)
    {
        if (string.IsNullOrEmpty(text) || !text.Any(IsUnsafe))
        {
            return text ?? "";
        }

        var builder = new System.Text.StringBuilder(text.Length + 8);
        foreach (var c in text)
        {
            if (IsUnsafe(c))
            {
                builder.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:X4}");
            }
            else
            {
                builder.Append(c);
            }
        }

        return builder.ToString();
    }
}
