#!/usr/bin/env bash
# Install Debian's nginx for the URL tests (tests/test_remote.py): an HTTP server honouring
# Range requests, started by the tests on a free loopback port with a configuration of
# their own (the package's own service is not started or used).  Idempotent.
#
#   bash .ci/servers.sh     # then: DASKFFT_REQUIRE_NGINX=1 pytest tests/test_remote.py
set -euo pipefail

if command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; then
  echo "servers: nginx there" >&2
  exit 0
fi
echo "servers: installing nginx-light" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# policy-rc.d: the package's own nginx service is not started (the tests start their own).
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
apt-get install -y -qq --no-install-recommends nginx-light >/dev/null
echo "servers: $(/usr/sbin/nginx -v 2>&1)" >&2
