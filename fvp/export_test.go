package fvp

// SetFactorPanel sets the panel height of FactorOp's products and returns
// a function that restores it.
func SetFactorPanel(n int) (restore func()) {
	old := factorPanel
	factorPanel = n
	return func() { factorPanel = old }
}
