package main

func genVec() {}
