// Package dataset reads the CSV files onnx-adapt takes as data and writes
// the CSV files of predictions it produces.
//
// # The CSV convention
//
// A file starts with a header row naming its columns. Target columns are
// those named y or y followed by digits (y0, y1, ...), ordered by their
// number; Options.TargetCols names them explicitly instead. Every other
// column is a feature. The features of a row, in file order, are reshaped
// row-major to the model's input shape without its batch dimension: 64
// feature columns become one [1,8,8] image. Cells are decimal numbers
// (surrounding spaces are ignored); an empty, non-numeric, NaN or infinite
// cell is an error, as is a row with a missing or an extra cell.
//
// Every error names the file, the line (1-based, counting the header as
// line 1) and, where one is at fault, the column by name and 1-based index.
package dataset
