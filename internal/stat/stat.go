// Package stat holds the statistical bounds that distribution tests and the
// examples use: binomial intervals and chi-square goodness of fit at a fixed
// significance level.
package stat

import "math"

// Alpha is the significance level of every bound in this package: a correct
// implementation fails a test once in a million runs.
const Alpha = 1e-6

// zTwoSided is the standard normal quantile for a two-sided test at Alpha.
const zTwoSided = 4.891638475699

// BinomialInterval returns the range of successes out of n trials with
// success probability p that a two-sided test at Alpha accepts (normal
// approximation with continuity correction; valid for n·p·(1-p) ≳ 10).
func BinomialInterval(n int, p float64) (lo, hi int) {
	mean := float64(n) * p
	sd := math.Sqrt(float64(n) * p * (1 - p))
	lo = int(math.Floor(mean - zTwoSided*sd - 0.5))
	hi = int(math.Ceil(mean + zTwoSided*sd + 0.5))
	return max(lo, 0), min(hi, n)
}

// ChiSquareCritical returns the critical value of the chi-square
// distribution with df degrees of freedom at Alpha: the x with
// P(X > x) = Alpha, found by bisection on the regularized upper incomplete
// gamma function.
func ChiSquareCritical(df int) float64 {
	k := float64(df) / 2
	lo, hi := 0.0, 10.0*float64(df)+100
	for range 200 {
		mid := (lo + hi) / 2
		if upperGamma(k, mid/2) > Alpha {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

// upperGamma is the regularized upper incomplete gamma function Q(a, x), by
// series for x < a+1 and by continued fraction otherwise (Numerical Recipes
// §6.2).
func upperGamma(a, x float64) float64 {
	if x <= 0 {
		return 1
	}
	lg, _ := math.Lgamma(a)
	if x < a+1 {
		sum, term := 1/a, 1/a
		for n := 1.0; n < 1000; n++ {
			term *= x / (a + n)
			sum += term
			if math.Abs(term) < math.Abs(sum)*1e-15 {
				break
			}
		}
		return 1 - sum*math.Exp(-x+a*math.Log(x)-lg)
	}
	const tiny = 1e-300
	b := x + 1 - a
	c := 1 / tiny
	d := 1 / b
	h := d
	for i := 1.0; i < 1000; i++ {
		an := -i * (i - a)
		b += 2
		d = an*d + b
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = b + an/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		del := d * c
		h *= del
		if math.Abs(del-1) < 1e-15 {
			break
		}
	}
	return math.Exp(-x+a*math.Log(x)-lg) * h
}

// ChiSquare returns Pearson's statistic for observed counts against expected
// probabilities (which sum to 1).
func ChiSquare(observed []int, probs []float64) float64 {
	n := 0
	for _, o := range observed {
		n += o
	}
	var x float64
	for i, o := range observed {
		e := float64(n) * probs[i]
		d := float64(o) - e
		x += d * d / e
	}
	return x
}

// FitsDistribution reports whether observed counts are consistent with probs
// at Alpha, and the statistic and critical value for messages.
func FitsDistribution(observed []int, probs []float64) (ok bool, statistic, critical float64) {
	statistic = ChiSquare(observed, probs)
	critical = ChiSquareCritical(len(observed) - 1)
	return statistic <= critical, statistic, critical
}
