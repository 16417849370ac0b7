using A1Fleet.ModelBuilder.Onnx;
using A1Fleet.ModelBuilder.Onnx.Proto;
using A1Fleet.ModelBuilder.Tests.Support;
using DataType = A1Fleet.ModelBuilder.Onnx.Proto.TensorProto.Types.DataType;

namespace A1Fleet.ModelBuilder.Tests;

public sealed class OnnxModelWriterTests
{
    [Fact]
    public void Output_ValueAlsoConsumedLater_RenamedEverywhereAndRunsOnOnnxRuntime()
    {
        // y = relu(x) is both an output and an input of z = y + [1, 2, 3].
        var writer = new OnnxModelWriter("test");
        string x = writer.Input("x", DataType.Float, OnnxDim.Batch, 3);
        string y = writer.Relu(x);
        string z = writer.Add(y, writer.Constant([1f, 2f, 3f], 3));
        writer.Output(y, "y", DataType.Float, OnnxDim.Batch, 3);
        writer.Output(z, "z", DataType.Float, OnnxDim.Batch, 3);

        using var directory = new TempDirectory();
        writer.Save(directory.File("test.onnx"));
        var outputs = OnnxRunner.Run(directory.File("test.onnx"), new NamedInput("x", new[] { -1f, 0.5f, 2f, 3f, -4f, 0f }, [2, 3]));
        Assert.Equal([0f, 0.5f, 2f, 3f, 0f, 0f], outputs["y"].Data);
        Assert.Equal([1f, 2.5f, 5f, 4f, 2f, 3f], outputs["z"].Data);
    }

    [Fact]
    public void ToModel_AnyGraph_DeclaresIrVersion8AndOpset17()
    {
        var writer = new OnnxModelWriter("test");
        string x = writer.Input("x", DataType.Float, OnnxDim.Batch);
        writer.Output(writer.Sigmoid(x), "y", DataType.Float, OnnxDim.Batch);
        var model = writer.ToModel();
        Assert.Equal(8, model.IrVersion);
        var opset = Assert.Single(model.OpsetImport);
        Assert.Equal(("", 17L), (opset.Domain, opset.Version));
    }

    [Fact]
    public void Float_Initializer_StoredAsLittleEndianRawData()
    {
        var tensor = OnnxTensors.Float("w", [1f, -2f], [2]);
        Assert.Equal((int)DataType.Float, tensor.DataType);
        Assert.Empty(tensor.FloatData);
        Assert.Equal(new byte[] { 0, 0, 0x80, 0x3F, 0, 0, 0, 0xC0 }, tensor.RawData.ToByteArray());
    }

    [Fact]
    public void Input_DuplicateName_Throws()
    {
        var writer = new OnnxModelWriter("test");
        writer.Input("x", DataType.Float, 1);
        Assert.Throws<InvalidOperationException>(() => writer.Input("x", DataType.Float, 1));
    }

    [Fact]
    public void Parse_SavedBytes_RoundTripsThroughTheSubsetProto()
    {
        var writer = new OnnxModelWriter("test");
        string x = writer.Input("x", DataType.Int64, OnnxDim.Batch, 4);
        writer.Output(writer.Reshape(x, 0, 2, 2), "y", DataType.Int64, OnnxDim.Batch, 2, 2);
        var parsed = ModelProto.Parser.ParseFrom(writer.ToBytes());
        Assert.Equal("batch", parsed.Graph.Input[0].Type.TensorType.Shape.Dim[0].DimParam);
        Assert.Equal(4, parsed.Graph.Input[0].Type.TensorType.Shape.Dim[1].DimValue);
        Assert.Equal("Reshape", Assert.Single(parsed.Graph.Node).OpType);
    }
}
