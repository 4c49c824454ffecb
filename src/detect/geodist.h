/*
 * geodist.h - great-circle distance for the geo detectors, and the cheap
 * test that decides most "is it within X km" questions without it.
 *
 * The one idea: a located event is compared with every place its key uses,
 * and almost every answer is obvious: the same point (a server's address
 * always geolocates to the same spot), or degrees of latitude apart. Two
 * bounds that need no trigonometry settle those: the difference in latitude
 * alone is a lower bound on the distance (the meridian arc), and that arc
 * plus the difference in longitude at the equator is an upper bound (a path
 * along a meridian, then a parallel, is never shorter than the great
 * circle). Only a pair between the bounds costs a haversine, and the answer
 * is always the one the haversine gives (tests/unit/test_geo.c compares
 * them over random and borderline pairs).
 */
#ifndef KW_DETECT_GEODIST_H
#define KW_DETECT_GEODIST_H

#include <stdbool.h>

/* Great-circle (haversine) distance in km between two points in degrees,
 * on a sphere of radius 6371 km. */
double kw_detect_geodist_km(double lat1, double lon1, double lat2, double lon2);

/* kw_detect_geodist_km(lat1, lon1, lat2, lon2) <= km, computing it only
 * when the bounds do not decide. */
bool kw_detect_geodist_within(double lat1, double lon1, double lat2,
			      double lon2, double km);

#endif
