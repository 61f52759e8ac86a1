// Package emodel estimates call quality with a simplified ITU-T G.107
// E-model for G.711: R = 93.2 − Id − Ie,eff, mapped to a MOS.
package emodel

import "time"

// Loss robustness factors (Bpl) of G.711 from ITU-T G.113 Appendix I.
const (
	BplWithPLC    = 25.1 // G.711 with Appendix I concealment
	BplWithoutPLC = 4.3  // G.711 with silence substitution
)

// R0 is the rating of an unimpaired G.711 connection with the G.107
// default parameters.
const R0 = 93.2

// Ieff returns the effective equipment impairment of G.711 (Ie = 0) for a
// random packet loss fraction in [0, 1] (G.107 §3.6, BurstR = 1).
func Ieff(loss float64, plc bool) float64 {
	bpl := BplWithoutPLC
	if plc {
		bpl = BplWithPLC
	}
	ppl := 100 * min(max(loss, 0), 1)
	return 95 * ppl / (ppl + bpl)
}

// Id returns the delay impairment for a one-way mouth-to-ear delay, with
// the usual simplification of G.107's Idd (Cole & Rosenbluth, 2001):
// 0.024·d + 0.11·(d − 177.3) above 177.3 ms, d in ms.
func Id(oneWay time.Duration) float64 {
	d := max(oneWay.Seconds()*1000, 0)
	id := 0.024 * d
	if d > 177.3 {
		id += 0.11 * (d - 177.3)
	}
	return id
}

// R returns the transmission rating for G.711 with the given loss fraction
// and one-way delay.
func R(loss float64, oneWay time.Duration, plc bool) float64 {
	return R0 - Id(oneWay) - Ieff(loss, plc)
}

// MOS maps a rating to a mean opinion score (G.107 Annex B).
func MOS(r float64) float64 {
	switch {
	case r <= 0:
		return 1
	case r >= 100:
		return 4.5
	}
	return 1 + 0.035*r + r*(r-60)*(100-r)*7e-6
}
