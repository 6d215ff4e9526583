/* fieldlen.h - the longest value (bytes, without the NUL) of each master-data field the API
 * accepts and the worker carries through a job. The web page gets them from GET /me
 * ("field_limits") for its inputs' maxlength. One definition for all sides: a value the
 * API stores must always fit the worker's buffers (once it did not, and every job of such an
 * account was dropped from memory while Redis said it ran). */
#ifndef AMCB_FIELDLEN_H
#define AMCB_FIELDLEN_H

#define FIELDLEN_TEXT 200 /* names, advertiser_id, marketplace_id, lwa_client_id */
#define FIELDLEN_ADVERTISER_ID FIELDLEN_TEXT
#define FIELDLEN_MARKETPLACE_ID FIELDLEN_TEXT
#define FIELDLEN_CLIENT_ID FIELDLEN_TEXT
#define FIELDLEN_INSTANCE_ID 64 /* AMC's short instance id (amcabc12de3f) */
#define FIELDLEN_TIMEZONE 64    /* IANA zone name */
#define FIELDLEN_REGION 32
#define FIELDLEN_EMAIL 320                /* a user's e-mail address (RFC 5321's limit) */
#define FIELDLEN_TOKEN_NAME FIELDLEN_TEXT /* an API token's label */
#define FIELDLEN_SECRET 4096              /* an LWA refresh token or client secret, plain */
#define FIELDLEN_BRANDS 100               /* brands per instance */

#endif
