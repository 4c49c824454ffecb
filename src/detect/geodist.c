/*
 * geodist.c - haversine distance and its trigonometry-free bounds
 * (geodist.h says why).
 */
#include "detect/geodist.h"

#include <math.h>

#define EARTH_KM 6371.0
#define PI 3.14159265358979323846
#define RAD (PI / 180.0)
/* Margin for the bounds: far above the rounding of either computation (the
 * haversine is good to well under a metre), so a bound only decides when
 * the haversine would answer the same. */
#define SLACK_KM 1.0

double kw_detect_geodist_km(double lat1, double lon1, double lat2, double lon2)
{
	double dlat = (lat2 - lat1) * RAD, dlon = (lon2 - lon1) * RAD;
	double a = sin(dlat / 2) * sin(dlat / 2) +
		   cos(lat1 * RAD) * cos(lat2 * RAD) * sin(dlon / 2) *
			   sin(dlon / 2);

	return 2 * EARTH_KM * asin(sqrt(a < 1 ? a : 1));
}

bool kw_detect_geodist_within(double lat1, double lon1, double lat2,
			      double lon2, double km)
{
	double dlat = fabs(lat2 - lat1), dlon = fabs(lon2 - lon1);

	if (dlon > 180.0)
		dlon = 360.0 - dlon;
	/* NaN and infinities fail both tests and go to the haversine. */
	if (EARTH_KM * RAD * dlat > km + SLACK_KM)
		return false;
	if (EARTH_KM * RAD * (dlat + dlon) < km - SLACK_KM)
		return true;
	return kw_detect_geodist_km(lat1, lon1, lat2, lon2) <= km;
}
