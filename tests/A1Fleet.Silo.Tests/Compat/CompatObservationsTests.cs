using A1Fleet.Datasets.Images;
using A1Fleet.Grains;
using A1Fleet.Silo.Compat;

namespace A1Fleet.Silo.Tests.Compat;

/// <summary>Profiles map client observations onto a two-camera model: camera order, CHW/HWC, resizing, state keys.</summary>
public sealed class CompatObservationsTests
{
    private static readonly ModelSpec TwoCameras = new("two-cam", "1", 8, 8, 4, [new("front", 4, 6), new("wrist", 4, 6)], new float[8], new float[8], 2, [1]);

    private static byte[] Solid(int height, int width, byte r, byte g, byte b) =>
        [.. Enumerable.Range(0, height * width).SelectMany(_ => new[] { r, g, b })];

    [Fact]
    public void FromA1Images_Arx5CameraOrder_PutsEachPositionInItsModelCamera()
    {
        // ARX5 sends [right_hand, left_hand, high]; the preset gives the model's cameras high, then right_hand.
        var profile = CompatPresets.ToProfile(CompatPresets.Find("a1-arx5")!, "two-cam", Embodiment.Franka, 2, InstructionSource.Prompt, 10);
        byte[][] files = [ImageCodec.EncodePng(Solid(8, 12, 200, 0, 0), 8, 12), ImageCodec.EncodePng(Solid(8, 12, 0, 200, 0), 8, 12), ImageCodec.EncodePng(Solid(8, 12, 0, 0, 200), 8, 12)];

        var images = CompatObservations.FromA1Images(files, profile, TwoCameras, 4096);

        Assert.Equal(Solid(4, 6, 0, 0, 200), images[0]);
        Assert.Equal(Solid(4, 6, 200, 0, 0), images[1]);
    }

    [Fact]
    public void FromA1Images_FewerImagesThanTheOrderNeeds_IsInvalidNamingImages()
    {
        var profile = CompatPresets.ToProfile(CompatPresets.Find("a1-arx5")!, "two-cam", Embodiment.Franka, 2, InstructionSource.Prompt, 10);

        var error = Assert.Throws<CompatException>(() => CompatObservations.FromA1Images([ImageCodec.EncodePng(Solid(4, 6, 1, 2, 3), 4, 6)], profile, TwoCameras, 4096));

        Assert.Equal(CompatFailure.Invalid, error.Failure);
        Assert.StartsWith("images:", error.Message);
    }

    [Fact]
    public void FromOpenPi_AlohaChwAndDroidHwc_GiveTheSameResizedImagesAndConcatenatedState()
    {
        var hwc = Solid(8, 12, 10, 20, 30);
        var chw = new byte[hwc.Length];
        for (var p = 0; p < 8 * 12; p++)
        {
            chw[p] = 10;
            chw[(8 * 12) + p] = 20;
            chw[(2 * 8 * 12) + p] = 30;
        }

        var aloha = CompatPresets.ToProfile(CompatPresets.Find("openpi-aloha")!, "two-cam", Embodiment.Franka, 2, InstructionSource.Prompt, 10);
        var droid = CompatPresets.ToProfile(CompatPresets.Find("openpi-droid")!, "two-cam", Embodiment.Franka, 2, InstructionSource.Prompt, 10);
        var chwImage = new NdArray("|u1", [3, 8, 12], chw);
        var hwcImage = new NdArray("|u1", [8, 12, 3], hwc);
        var state = new NdArray("<f4", [8], new byte[32]);

        var fromAloha = CompatObservations.FromOpenPi(new() { ["images"] = new Dictionary<string, object?> { ["cam_high"] = chwImage, ["cam_left_wrist"] = chwImage }, ["state"] = state, ["prompt"] = "fold" }, aloha, TwoCameras, 4096);
        var fromDroid = CompatObservations.FromOpenPi(new()
        {
            ["observation/exterior_image_1_left"] = hwcImage,
            ["observation/wrist_image_left"] = hwcImage,
            ["observation/joint_position"] = new NdArray("<f8", [7], new byte[56]),
            ["observation/gripper_position"] = new NdArray("<f4", [1], BitConverter.GetBytes(0.5f)),
        }, droid, TwoCameras, 4096);

        Assert.Equal(fromAloha.Images[0], fromDroid.Images[1]);
        Assert.Equal(4 * 6 * 3, fromDroid.Images[0].Length);
        Assert.Equal([0, 0, 0, 0, 0, 0, 0, 0.5f], fromDroid.State);
        Assert.Equal("fold", fromAloha.Prompt);
        Assert.Null(fromDroid.Prompt);
    }
}
