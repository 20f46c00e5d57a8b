package dataset_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/onnx-adapt/onnx-adapt/dataset"
)

func Example() {
	csv := "p0,p1,p2,p3,y\n0,1,2,3,7.5\n4,5,6,7,-1\n"
	r, err := dataset.NewReader(strings.NewReader(csv), "pixels.csv", dataset.Options{InputShape: []int{1, 2, 2}})
	if err != nil {
		fmt.Println(err)
		return
	}
	t, err := r.ReadAll()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(t.X.Shape, t.X.Data, t.TargetNames, t.Y)
	dataset.WriteRows(os.Stdout, []string{"mean", "std"}, t.N, func(i int, dst []float64) []float64 {
		dst[0], dst[1] = t.Y[i][0]/3, 0.1
		return dst
	})
	// Output:
	// [2 1 2 2] [0 1 2 3 4 5 6 7] [y] [[7.5] [-1]]
	// mean,std
	// 2.5,0.1
	// -0.33333334,0.1
}

func ExampleError() {
	_, err := dataset.NewReader(strings.NewReader("a,b\n"), "data.csv", dataset.Options{InputShape: []int{3}})
	fmt.Println(err)
	// Output: data.csv: line 1: 2 feature columns, but the model's input [3] takes 3 values per example (targets: none)
}
