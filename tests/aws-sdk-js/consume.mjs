// A consumer nobody here wrote: the AWS SDK for JavaScript v3 reads the
// profile's one-line `credential_process` (fromIni), runs it, and signs an
// STS GetCallerIdentity with the result. Prints one JSON line for the test.
// Usage: node consume.mjs PROFILE STS_ENDPOINT   (AWS_CONFIG_FILE set by the caller)
import { fromIni } from "@aws-sdk/credential-providers";
import { STSClient, GetCallerIdentityCommand } from "@aws-sdk/client-sts";

const [profile, endpoint] = process.argv.slice(2);
const provider = fromIni({ profile });
const creds = await provider();
const sts = new STSClient({ region: "eu-central-1", endpoint, credentials: provider, maxAttempts: 1 });
const id = await sts.send(new GetCallerIdentityCommand({}));
console.log(JSON.stringify({
  accessKeyId: creds.accessKeyId,
  expiration: creds.expiration ? creds.expiration.toISOString() : null,
  hasSecret: Boolean(creds.secretAccessKey && creds.sessionToken),
  arn: id.Arn,
  userId: id.UserId,
}));
