// Package outlier holds Istio's OutlierDetection and ConnectionPoolSettings
// configuration: passive ejection of failing endpoints and the limits that
// shed load past a cluster's capacity.
package outlier
