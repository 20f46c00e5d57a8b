// Command _asm generates the simd package's amd64 assembly with avo.
//
//	go run . -set gemm -out ../gemm_amd64.s
//	go run . -set maps -out ../maps_amd64.s
//	go run . -set dgemm -out ../dgemm_amd64.s
//	go run . -set pool -out ../pool_amd64.s
package main

import (
	"flag"
	"log"

	. "github.com/mmcloughlin/avo/build"
)

func main() {
	set := flag.String("set", "gemm", "kernel set to generate: gemm, dgemm, maps or pool")
	flag.Parse()
	ConstraintExpr("!purego")
	switch *set {
	case "gemm":
		genGemm()
	case "dgemm":
		genDgemm()
	case "maps":
		genMaps()
	case "pool":
		genPool()
	default:
		log.Fatalf("unknown kernel set %q", *set)
	}
	Generate()
}
