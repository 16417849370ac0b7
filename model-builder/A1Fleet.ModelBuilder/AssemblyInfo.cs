using System.Runtime.CompilerServices;

// Tests check the generator against published reference vectors through an internal constructor.
[assembly: InternalsVisibleTo("A1Fleet.ModelBuilder.Tests")]
