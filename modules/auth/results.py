"""Return codes of the authorize functions (OpenSIPS's auth_result_t)."""

AUTH_ERROR = -5  # an error occurred, no reply was sent
NO_CREDENTIALS = -4  # no credentials for this realm in the request
STALE_NONCE = -3  # expired, replayed, or not ours: challenge again with stale=true
INVALID_PASSWORD = -2  # known user, wrong response
USER_UNKNOWN = -1
ERROR = 0  # an error occurred and a reply was sent: the script ends
AUTHORIZED = 1
DO_AUTHORIZATION = 2  # internal: the credentials are sound, compare the response now
