using A1Fleet.ModelBuilder.Randomness;

namespace A1Fleet.ModelBuilder.Samples;

/// <summary>
/// Task instructions for sample episodes, built only from <see cref="Config.ManipulationVocabulary"/>
/// words and at most eight words long, so that every preset's tokenizer sees known words.
/// </summary>
public static class InstructionTemplates
{
    private static readonly string[] Receptacles = ["plate", "bowl", "coaster", "box", "basket"];
    private static readonly string[] Sides = ["left", "right", "front", "back"];

    /// <summary>An instruction about <paramref name="target"/> (the first block); <paramref name="other"/> is another colour word.</summary>
    public static string Pick(Xoshiro256StarStar random, string target, string other, bool hasSecondBlock)
    {
        string receptacle = Receptacles[random.NextInt(Receptacles.Length)];
        string side = Sides[random.NextInt(Sides.Length)];
        var templates = new List<string>
        {
            $"pick up the {target} block",
            $"put the {target} block on the {other} {receptacle}",
            $"push the {target} block to the {side}",
            $"place the {target} cube onto the {receptacle}",
            $"lift the {target} block and release it",
            $"open the {side} drawer",
            "close the top drawer",
        };
        if (hasSecondBlock)
        {
            templates.Add($"stack the {target} block on the {other} block");
        }

        return templates[random.NextInt(templates.Count)];
    }
}
