using A1Fleet.ModelFormat;

namespace A1Fleet.Engine.Preprocessing;

/// <summary>
/// The manifest's word-vocabulary tokenizer: lower-case, split on anything that is not a letter or
/// digit, unknown words map to the unknown id. Instructions are short and fixed per task, so callers
/// may tokenize once per task and reuse the ids.
/// </summary>
public sealed class WordTokenizer
{
    private readonly Dictionary<string, int> _ids;
    private readonly TokenizerSpec _spec;

    public WordTokenizer(TokenizerSpec spec)
    {
        _spec = spec;
        _ids = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < spec.Vocabulary.Count; i++)
        {
            _ids.TryAdd(spec.Vocabulary[i], i);
        }
    }

    public int MaxTokens => _spec.MaxTokens;
    public int PadId => _spec.PadId;

    /// <summary>Writes ids into <paramref name="destination"/> (padded) and returns the token count, or an error.</summary>
    public int Encode(string instruction, Span<long> destination, out string? error)
    {
        error = null;
        destination.Fill(_spec.PadId);
        var count = 0;
        var span = instruction.AsSpan();
        var i = 0;
        Span<char> word = stackalloc char[64];
        while (i < span.Length)
        {
            while (i < span.Length && !char.IsLetterOrDigit(span[i]))
            {
                i++;
            }

            var start = i;
            while (i < span.Length && char.IsLetterOrDigit(span[i]))
            {
                i++;
            }

            if (i == start)
            {
                break;
            }

            if (count == _spec.MaxTokens)
            {
                error = $"instruction has more than {_spec.MaxTokens} words, the most this model reads";
                return -1;
            }

            var length = Math.Min(i - start, word.Length);
            var lower = word[..length];
            span.Slice(start, length).ToLowerInvariant(lower);
            destination[count++] = LookUp(lower);
        }

        if (count == 0)
        {
            error = "instruction is empty";
            return -1;
        }

        return count;
    }

    private int LookUp(ReadOnlySpan<char> word)
    {
        var lookup = _ids.GetAlternateLookup<ReadOnlySpan<char>>();
        return lookup.TryGetValue(word, out var id) ? id : _spec.UnknownId;
    }
}
