// Runs s3rver's command line (scripts/s3-server.sh): the published
// @20minutes/s3rver package names a bin script it does not ship.
'use strict';
require('@20minutes/s3rver/lib/cli').parseAsync(process.argv);
