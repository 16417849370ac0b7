using A1Fleet.Grains;
using A1Fleet.Motion;
using A1Fleet.RobotAgent.Camera;
using A1Fleet.RobotAgent.Drivers;

namespace A1Fleet.RobotAgent.Tests.Camera;

public sealed class SimulatedCameraTests
{
    private static readonly CameraInfo[] Cameras = [new("front", 64, 48), new("wrist", 32, 40)];

    [Theory]
    [InlineData(Embodiment.Franka)]
    [InlineData(Embodiment.AgiBot)]
    [InlineData(Embodiment.OpenArm)]
    [InlineData(Embodiment.Dobot)]
    public void Capture_ModelCameras_ImagesHaveTheModelsSizes(Embodiment embodiment)
    {
        var arm = new SimulatedArm(embodiment, 1);
        var camera = new SimulatedCamera(arm.Profile, Cameras, seed: 1);

        var images = camera.Capture(arm.ReadState());

        Assert.Equal(2, images.Length);
        Assert.Equal(64 * 48 * 3, images[0].Length);
        Assert.Equal(32 * 40 * 3, images[1].Length);
    }

    [Fact]
    public void Capture_SameStateAndSeed_SameImages()
    {
        var arm = new SimulatedArm(Embodiment.Franka, 1);
        var a = new SimulatedCamera(arm.Profile, Cameras, seed: 5).Capture(arm.ReadState());
        var b = new SimulatedCamera(arm.Profile, Cameras, seed: 5).Capture(arm.ReadState());

        Assert.Equal(a[0], b[0]);
        Assert.Equal(a[1], b[1]);
    }

    [Fact]
    public void Capture_Twice_ReturnsFreshArrays()
    {
        var arm = new SimulatedArm(Embodiment.Franka, 1);
        var camera = new SimulatedCamera(arm.Profile, Cameras, seed: 5);

        var first = camera.Capture(arm.ReadState());
        var second = camera.Capture(arm.ReadState());

        Assert.NotSame(first[0], second[0]);
        Assert.Equal(first[0], second[0]);
    }

    [Theory]
    [InlineData(Embodiment.Franka)]
    [InlineData(Embodiment.AgiBot)]
    [InlineData(Embodiment.OpenArm)]
    [InlineData(Embodiment.Dobot)]
    public void Capture_ArmMoved_FrontAndWristImagesChange(Embodiment embodiment)
    {
        var arm = new SimulatedArm(embodiment, 1);
        var camera = new SimulatedCamera(arm.Profile, Cameras, seed: 1);
        var before = camera.Capture(arm.ReadState());

        var target = arm.ReadState();
        target[0] += 0.8f;
        target[1] += 0.4f;
        for (var i = 0; i < 20; i++)
        {
            arm.Command(target);
        }

        var after = camera.Capture(arm.ReadState());
        Assert.NotEqual(before[0], after[0]);
        Assert.NotEqual(before[1], after[1]);
    }

    [Fact]
    public void Capture_GripperOpens_WristImageChanges()
    {
        var arm = new SimulatedArm(Embodiment.Franka, 1);
        var camera = new SimulatedCamera(arm.Profile, Cameras, seed: 1);
        var closed = arm.ReadState();
        closed[7] = 0f;
        var open = (float[])closed.Clone();
        open[7] = 0.08f;

        Assert.NotEqual(camera.Capture(closed)[1], camera.Capture(open)[1]);
    }

    [Fact]
    public void Capture_DifferentSeeds_DifferentScenes()
    {
        var arm = new SimulatedArm(Embodiment.Franka, 1);

        Assert.NotEqual(new SimulatedCamera(arm.Profile, Cameras, 1).Capture(arm.ReadState())[0], new SimulatedCamera(arm.Profile, Cameras, 2).Capture(arm.ReadState())[0]);
    }

    [Fact]
    public void Capture_ExtremeJoints_StaysInsideTheImage()
    {
        var profile = EmbodimentProfile.For(Embodiment.Dobot);
        var camera = new SimulatedCamera(profile, [new CameraInfo("front", 8, 8), new CameraInfo("wrist", 8, 8)], seed: 1);

        foreach (var pose in new[] { profile.Joints.Select(j => j.Lower).ToArray(), profile.Joints.Select(j => j.Upper).ToArray() })
        {
            var images = camera.Capture(pose);
            Assert.Equal(8 * 8 * 3, images[0].Length);
        }
    }

    [Fact]
    public void Constructor_EmptyCameraSize_Throws()
    {
        var ex = Assert.Throws<ArgumentException>(() => new SimulatedCamera(EmbodimentProfile.For(Embodiment.Franka), [new CameraInfo("front", 0, 64)], 1));
        Assert.Contains("front", ex.Message, StringComparison.Ordinal);
    }
}
