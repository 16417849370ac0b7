using A1Fleet.Calibration.Tests.LeRobot;
using A1Fleet.Datasets.LeRobot;
using A1Fleet.Datasets.Mapping;

namespace A1Fleet.Calibration.Tests.Mapping;

[Collection(ReferenceModelsCollection.Name)]
public sealed class DatasetMappingValidatorTests(ReferenceModelsFixture models)
{
    private readonly LeRobotDataset _dataset = LeRobotDataset.Open(TestDatasets.ShippedTinyFm);

    [Fact]
    public void Validate_DefaultMappingOfShippedDataset_HasNoProblems()
    {
        var mapping = DatasetMapping.Default(models.Manifest, _dataset.Info);

        Assert.Empty(DatasetMappingValidator.Validate(mapping, models.Manifest, _dataset));
        Assert.Equal("observation.images.front", mapping.Cameras["front"]);
        Assert.Equal("action", mapping.ActionKey);
    }

    [Fact]
    public void Validate_SeveralMistakes_ListsEveryOne()
    {
        var mapping = new DatasetMapping
        {
            Cameras = new() { ["wrist"] = "observation.images.wrist" },
            StateKey = "action",
            StateDims = [0, 1, 2, 9],
            ActionKey = "timestamp",
            Instruction = " ",
        };

        var errors = DatasetMappingValidator.Validate(mapping, models.Manifest, _dataset);

        Assert.Contains(errors, e => e.Contains("model camera 'front'", StringComparison.Ordinal) && e.Contains("is not mapped", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("cameras: 'wrist' is not a camera", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("cameras.wrist: feature 'observation.images.wrist' is not in info.json", StringComparison.Ordinal));
        Assert.Contains(errors, e => e == "stateDims selects 4 values but the model's state dim is 6");
        Assert.Contains(errors, e => e.StartsWith("stateDims: index 9 is outside", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("actionKey: feature 'timestamp' has 1 values", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("instruction is empty", StringComparison.Ordinal));
        Assert.Equal(7, errors.Count);
    }

    [Fact]
    public void Validate_ImageFeatureAsState_RejectsDtype()
    {
        var mapping = DatasetMapping.Default(models.Manifest, _dataset.Info);
        mapping.StateKey = "observation.images.front";
        mapping.StateDims = [0, 1, 2, 3, 4, 5];

        var errors = DatasetMappingValidator.Validate(mapping, models.Manifest, _dataset);

        Assert.Contains(errors, e => e.Contains("dtype 'image'", StringComparison.Ordinal) && e.StartsWith("stateKey", StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_ReorderedStateDims_IsAccepted()
    {
        var mapping = DatasetMapping.Default(models.Manifest, _dataset.Info);
        mapping.StateDims = [5, 4, 3, 2, 1, 0];

        Assert.Empty(DatasetMappingValidator.Validate(mapping, models.Manifest, _dataset));
    }

    [Fact]
    public void FromJson_CommentsAndFixedInstruction_Parses()
    {
        var mapping = DatasetMapping.FromJson("""
            {
              // the only camera
              "cameras": { "front": "observation.images.front" },
              "stateKey": "observation.state",
              "instruction": "pick up the red block",
            }
            """);

        Assert.Equal("observation.images.front", mapping.Cameras["front"]);
        Assert.Equal("pick up the red block", mapping.Instruction);
        Assert.Null(mapping.ActionKey);
    }

    [Fact]
    public void Load_MissingFile_NamesFile()
    {
        using var folder = new TempFolder();
        var path = Path.Combine(folder.Path, "nope.json");

        var error = Assert.Throws<InvalidDataException>(() => DatasetMapping.Load(path));

        Assert.Contains(path, error.Message, StringComparison.Ordinal);
    }
}
