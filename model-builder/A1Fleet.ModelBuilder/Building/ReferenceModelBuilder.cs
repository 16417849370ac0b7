using System.Text;
using A1Fleet.ModelBuilder.Config;
using A1Fleet.ModelBuilder.Graphs;
using A1Fleet.ModelBuilder.Onnx;
using A1Fleet.ModelBuilder.Samples;
using A1Fleet.ModelBuilder.Weights;

namespace A1Fleet.ModelBuilder.Building;

/// <summary>
/// Writes a complete model package: every ONNX graph, samples.json and model.json. Files are written
/// one graph at a time, so memory stays at one graph plus the weights. Output is a pure function of
/// the config: two builds of the same config are byte-identical. Cancellation is checked before each file; a
/// cancelled build leaves the files written so far (callers build into a staging directory, as the CLI does).
/// </summary>
public static class ReferenceModelBuilder
{
    public static BuildResult Build(ReferenceModelConfig config, string outputDirectory, CancellationToken cancellationToken = default)
    {
        config.Validate();
        Directory.CreateDirectory(outputDirectory);
        var weights = ReferenceWeights.Generate(config);
        var written = new List<WrittenFile>();

        void WriteGraph(string fileName, OnnxModelWriter graph)
        {
            cancellationToken.ThrowIfCancellationRequested();
            written.Add(new WrittenFile(fileName, graph.Save(Path.Combine(outputDirectory, fileName))));
        }

        void WriteText(string fileName, string text)
        {
            cancellationToken.ThrowIfCancellationRequested();
            byte[] bytes = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false).GetBytes(text);
            File.WriteAllBytes(Path.Combine(outputDirectory, fileName), bytes);
            written.Add(new WrittenFile(fileName, bytes.LongLength));
        }

        WriteGraph(PackageFiles.Prefix, PrefixGraph.Build(weights));
        for (int stage = 0; stage < PrefixGraph.Stages(config); stage++)
        {
            WriteGraph(PackageFiles.PrefixStage(stage), PrefixGraph.BuildStage(weights, stage));
        }

        for (int layer = 0; layer < config.LmLayers; layer++)
        {
            WriteGraph(PackageFiles.LmLayer(layer), LmLayerGraph.Build(weights, layer));
        }

        if (config.IsFlowMatching)
        {
            WriteGraph(PackageFiles.ExpertSuffix, ExpertSuffixGraph.Build(weights));
            for (int layer = 0; layer < config.LmLayers; layer++)
            {
                WriteGraph(PackageFiles.ExpertLayer(layer), ExpertLayerGraph.Build(weights, layer));
            }

            WriteGraph(PackageFiles.ExpertOut, ExpertOutGraph.Build(weights));
        }
        else
        {
            WriteGraph(PackageFiles.MlpHead, MlpHeadGraph.Build(weights));
        }

        var manifest = ManifestFactory.Create(config);
        var samples = SampleDataGenerator.Generate(config);
        if (manifest.SampleData is not null)
        {
            WriteText(manifest.SampleData, ReferenceModelJson.Serialize(samples));
        }

        WriteText(PackageFiles.Manifest, ReferenceModelJson.Serialize(manifest));
        return new BuildResult(outputDirectory, manifest, written, weights.ParameterCountsByPart(), weights.TotalParameters, samples.Count);
    }
}
