/* curl_ev.h - libcurl multi driven by libevent (socket + timer callbacks, as in curl's
 * hiperfifo example). Callers build the easy handle; curl_ev runs it and reports. */
#ifndef AMCB_CURL_EV_H
#define AMCB_CURL_EV_H

#include <curl/curl.h>
#include <event2/event.h>

#include "common.h"

typedef struct CurlEv CurlEv;

/* Called on the loop thread when the transfer ends. The easy handle is already removed
 * from the multi handle; the callback owns it again (and must curl_easy_cleanup it). */
typedef void (*CurlDoneFn)(CURL *easy, CURLcode rc, void *priv);

/* The program must have called curl_global_init(CURL_GLOBAL_DEFAULT) once before. */
CurlEv *curlev_new(struct event_base *base);
/* Aborts running transfers without calling their callbacks. curl_ev never frees an easy
 * handle: their owners (who track them anyway) clean them up afterwards. */
void curlev_free(CurlEv *m);
/* Takes the easy handle for the transfer's duration. False if it could not be added.
 * CURLOPT_PRIVATE stays the caller's: curl_ev keeps its own easy -> transfer map.
 * Must not be called from inside a libcurl callback (write/header/progress). */
MUST_CHECK bool curlev_add(CurlEv *m, CURL *easy, CurlDoneFn done, void *priv);
/* Abort one transfer early; done is NOT called. The caller gets the handle back to free. */
void curlev_remove(CurlEv *m, CURL *easy);
int curlev_running(const CurlEv *m); /* transfers added and not yet done/removed */
/* The multi handle, for options such as CURLMOPT_MAX_HOST_CONNECTIONS. Do not add or
 * remove handles on it directly. */
CURLM *curlev_multi(CurlEv *m);

#endif
