package emodel

import (
	"math"
	"testing"
	"time"
)

func near(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %.3f, want %.3f ± %.3f", what, got, want, tol)
	}
}

func TestReferencePoints(t *testing.T) {
	// Unimpaired G.711: R 93.2, MOS 4.41 (G.107 default, widely quoted).
	near(t, "R(no loss, no delay)", R(0, 0, true), 93.2, 1e-9)
	near(t, "MOS(93.2)", MOS(93.2), 4.41, 0.005)
	// 1 % random loss: Ie,eff = 95/(1+25.1) with PLC, 95/(1+4.3) without.
	near(t, "Ieff(1%, PLC)", Ieff(0.01, true), 3.640, 0.001)
	near(t, "Ieff(1%, no PLC)", Ieff(0.01, false), 17.925, 0.001)
	// Delay: 150 ms costs 3.6, 250 ms costs 6 + 0.11·72.7 = 13.997.
	near(t, "Id(150ms)", Id(150*time.Millisecond), 3.6, 1e-9)
	near(t, "Id(250ms)", Id(250*time.Millisecond), 13.997, 1e-9)
	near(t, "MOS(0)", MOS(-5), 1, 0)
	near(t, "MOS(120)", MOS(120), 4.5, 0)
}

func TestMOSFallsWithLoss(t *testing.T) {
	prev := 5.0
	for _, loss := range []float64{0, 0.01, 0.02, 0.05, 0.1, 0.2} {
		m := MOS(R(loss, 60*time.Millisecond, true))
		if m >= prev {
			t.Fatalf("MOS at %.0f%% loss = %.2f, not below %.2f", loss*100, m, prev)
		}
		if noPLC := MOS(R(loss, 60*time.Millisecond, false)); loss > 0 && noPLC >= m {
			t.Fatalf("at %.0f%% loss MOS without PLC %.2f ≥ with PLC %.2f", loss*100, noPLC, m)
		}
		prev = m
	}
}
