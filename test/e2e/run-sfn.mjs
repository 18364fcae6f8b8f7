// run-sfn.mjs runs one execution of a state machine (Amazon States Language)
// locally with aws-local-stepfunctions, for fleetdoctor's e2e test. Every
// Task state is bound to the Go harness: the state's effective input is
// POSTed to http://127.0.0.1:<port>/invoke/<lambdaName> and the response
// (or the Lambda's error) becomes the task's result, so Retry and Catch in
// the ASL see the Lambda's errorType exactly as Step Functions would.
//
// Usage:
//   node run-sfn.mjs --asl FILE --input JSON|@FILE --harness http://127.0.0.1:PORT
//                    [--name EXECUTION_NAME] [--items-from STATE] [--retry-interval-ms N]
//
// Output: one JSON line on stdout:
//   {"status":"SUCCEEDED|FAILED|TIMED_OUT|ABORTED","output":...,"error":"...","cause":"...",
//    "states":["ValidateInput",...],"events":[{"type":"StateEntered","state":"...","index":0},...],
//    "rewrites":["..."]}
// Exit status: 0 when the execution ran (whatever its status), 2 on usage or
// an invalid definition (asl-validator's errors on stderr), 1 otherwise.

// aws-local-stepfunctions 3 calls Promise.withResolvers (Node >= 22); the CI
// image runs Node 20. The polyfill is installed before any execution starts
// (the library only calls it while running a Task state).
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers() {
    let resolve;
    let reject;
    const promise = new this((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

import { readFileSync } from 'node:fs';
import http from 'node:http';
import { parseArgs } from 'node:util';
import aslValidator from 'asl-validator';
import { StateMachine, ExecutionError, ExecutionTimeoutError, ExecutionAbortedError } from 'aws-local-stepfunctions';

const LAMBDA_INVOKE = 'arn:aws:states:::lambda:invoke';
// Step Functions applies no timeout of its own to a Task without
// TimeoutSeconds (the Lambda's timeout applies); aws-local-stepfunctions
// would apply 60 s, so such tasks get the Lambda maximum instead.
const DEFAULT_TASK_TIMEOUT_SECONDS = 900;

function fail(code, message) {
  process.stderr.write(`run-sfn: ${message}\n`);
  process.exit(code);
}

function parseCLI() {
  const { values } = parseArgs({
    options: {
      asl: { type: 'string' },
      input: { type: 'string', default: '{}' },
      harness: { type: 'string' },
      name: { type: 'string', default: 'e2e-execution' },
      'items-from': { type: 'string', default: 'ResolveTargets' },
      'retry-interval-ms': { type: 'string', default: '10' },
    },
    strict: true,
  });
  if (!values.asl) fail(2, '--asl: the state machine definition file is required');
  if (!values.harness) fail(2, '--harness: the Go harness URL (http://127.0.0.1:PORT) is required');
  const harness = new URL(values.harness);
  if (harness.hostname !== '127.0.0.1' && harness.hostname !== 'localhost' && harness.hostname !== '[::1]') {
    fail(2, `--harness: ${values.harness} is not a loopback address`);
  }
  let input;
  try {
    const text = values.input.startsWith('@') ? readFileSync(values.input.slice(1), 'utf8') : values.input;
    input = JSON.parse(text);
  } catch (err) {
    fail(2, `--input: not JSON: ${err.message}`);
  }
  const retryMs = Number(values['retry-interval-ms']);
  if (!Number.isInteger(retryMs) || retryMs < 0) fail(2, `--retry-interval-ms: want a whole number >= 0, got ${values['retry-interval-ms']}`);
  return { aslFile: values.asl, input, harness: harness.origin, name: values.name, itemsFrom: values['items-from'], retryMs };
}

// lambdaName returns the function name of a Lambda ARN, a partial ARN or a
// plain name, without a version or alias qualifier.
export function lambdaName(ref) {
  if (typeof ref !== 'string' || ref === '') return '';
  const parts = ref.split(':');
  const i = parts.indexOf('function');
  if (i >= 0) return parts[i + 1] ?? '';
  return parts[0];
}

// forEachState calls fn(name, state) for every state, nested ones (Map
// ItemProcessor/Iterator, Parallel branches) included.
function forEachState(definition, fn) {
  for (const [name, state] of Object.entries(definition.States ?? {})) {
    fn(name, state);
    if (state.Type === 'Map') forEachState(state.ItemProcessor ?? state.Iterator ?? {}, fn);
    if (state.Type === 'Parallel') for (const b of state.Branches ?? []) forEachState(b, fn);
  }
}

// rewrite adapts the deployed definition to what aws-local-stepfunctions
// can run. TEST ONLY — the deployed state machine is not changed:
//   - a Distributed Map's ItemReader (S3 getObject), ItemBatcher and
//     ResultWriter are removed, and its ItemsPath points at
//     $$.E2E.items.<MapName>, which the runner fills with the items of the
//     S3 object that the --items-from state's Lambda response names
//     (bucket, key), read from the sandbox's S3 through the harness;
//   - Tasks without TimeoutSeconds get the Lambda maximum (Step Functions
//     has no default task timeout; the library's is 60 s).
// It returns the Task bindings (state name → how to call its Lambda) and a
// description of every change.
export function rewrite(definition) {
  const tasks = {};
  const distributedMaps = [];
  const notes = [];
  forEachState(definition, (name, state) => {
    // aws-local-stepfunctions 3.0.0 reads ResultPath "$" as a field named
    // "$" instead of the whole state; "$" is ResultPath's default, so
    // dropping it is the same definition.
    if (state.ResultPath === '$') {
      delete state.ResultPath;
      notes.push(`${name}: ResultPath "$" dropped (the default; the library mishandles it)`);
    }
    for (const c of state.Catch ?? []) {
      if (c.ResultPath === '$') delete c.ResultPath;
    }
    if (state.Type === 'Task') {
      if (state.Resource === LAMBDA_INVOKE || state.Resource?.startsWith(`${LAMBDA_INVOKE}.`)) {
        tasks[name] = { mode: 'invoke' };
      } else if (/^arn:aws[a-z-]*:lambda:/.test(state.Resource ?? '')) {
        tasks[name] = { mode: 'direct', fn: lambdaName(state.Resource) };
      } else {
        tasks[name] = { mode: 'unsupported', resource: state.Resource };
      }
      if (state.TimeoutSeconds === undefined && state.TimeoutSecondsPath === undefined) {
        state.TimeoutSeconds = DEFAULT_TASK_TIMEOUT_SECONDS;
      }
    }
    if (state.Type === 'Map' && state.ItemReader) {
      const removed = ['ItemReader', 'ItemBatcher', 'ResultWriter', 'ToleratedFailurePercentage',
        'ToleratedFailurePercentagePath', 'ToleratedFailureCount', 'ToleratedFailureCountPath', 'Label']
        .filter((k) => k in state);
      for (const k of removed) delete state[k];
      state.ItemsPath = `$$.E2E.items.${name}`;
      distributedMaps.push(name);
      notes.push(`Map ${name}: removed ${removed.join(', ')}; ItemsPath ${state.ItemsPath} (items read from the sandbox S3 by the runner)`);
    }
  });
  return { tasks, distributedMaps, notes };
}

// postJSON posts with node:http rather than fetch: fetch (undici) gives up
// on a response whose headers take more than 300 s, and a Lambda may run
// for up to its timeout before the harness answers.
function postJSON(url, body) {
  const data = Buffer.from(JSON.stringify(body ?? null));
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': data.length },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(data);
  });
}

// lambdaError is what a Lambda function error looks like to Retry/Catch:
// Error is the function's errorType, Cause the error object as JSON (as
// Step Functions reports it: {"errorMessage":...,"errorType":...}).
function lambdaError(errorType, body) {
  const err = new Error(body);
  err.name = errorType || 'Lambda.Unknown';
  return err;
}

// invoke calls a Lambda through the harness. It returns the response
// payload or throws the Lambda's error.
async function invoke(harness, fn, payload) {
  if (!fn) throw lambdaError('Lambda.InvalidParameterValueException', JSON.stringify({ errorMessage: 'no FunctionName' }));
  let res;
  try {
    res = await postJSON(`${harness}/invoke/${encodeURIComponent(fn)}`, payload);
  } catch (err) {
    // What the Lambda client reports when it cannot reach Lambda.
    throw lambdaError('Lambda.SdkClientException', JSON.stringify({ errorMessage: `invoking ${fn} through the harness: ${err.message}` }));
  }
  const { text } = res;
  if (res.status === 404) {
    throw lambdaError('Lambda.ResourceNotFoundException', JSON.stringify({ errorMessage: `Function not found: ${fn}` }));
  }
  if (res.status !== 200) {
    throw lambdaError('Lambda.ServiceException', JSON.stringify({ errorMessage: `harness answered ${res.status}: ${text.slice(0, 500)}` }));
  }
  const functionError = res.headers['x-amz-function-error'];
  if (functionError) {
    let errorType = 'Lambda.Unknown';
    try {
      errorType = JSON.parse(text).errorType || errorType;
    } catch {
      // keep Lambda.Unknown: the body is the cause as it came
    }
    throw lambdaError(errorType, text);
  }
  return text === '' ? null : JSON.parse(text);
}

async function readItems(harness, bucket, key) {
  const url = `${harness}/s3get?bucket=${encodeURIComponent(bucket)}&key=${encodeURIComponent(key)}`;
  const res = await fetch(url);
  const text = await res.text();
  if (res.status !== 200) throw new Error(`reading s3://${bucket}/${key} from the sandbox: ${res.status} ${text.slice(0, 300)}`);
  const items = JSON.parse(text);
  if (!Array.isArray(items)) throw new Error(`s3://${bucket}/${key} is not a JSON array`);
  return items;
}

async function main() {
  const opts = parseCLI();
  let definition;
  try {
    definition = JSON.parse(readFileSync(opts.aslFile, 'utf8'));
  } catch (err) {
    fail(2, `--asl ${opts.aslFile}: ${err.message}`);
  }
  // The deployed definition is validated as it is (asl-validator adds
  // fields to what it checks, hence the copy).
  const check = aslValidator(structuredClone(definition), { checkArn: true, checkPaths: true });
  if (!check.isValid) {
    process.stderr.write(`run-sfn: ${opts.aslFile} is not valid Amazon States Language:\n${check.errorsText('\n')}\n`);
    process.exit(2);
  }

  const { tasks, distributedMaps, notes } = rewrite(definition);
  const e2e = { items: {} };
  const handlers = {};
  const retryOverrides = {};
  forEachState(definition, (name, state) => {
    if (state.Retry) retryOverrides[name] = opts.retryMs;
  });
  for (const [name, task] of Object.entries(tasks)) {
    handlers[name] = async (input) => {
      let payload;
      let fn;
      if (task.mode === 'invoke') {
        // lambda:invoke: the effective input is the Parameters
        // {FunctionName, Payload}; the result is the service integration's
        // envelope with the response in Payload.
        fn = lambdaName(input?.FunctionName);
        payload = input?.Payload;
      } else if (task.mode === 'direct') {
        fn = task.fn;
        payload = input;
      } else {
        throw lambdaError('States.Runtime', `Task ${name}: resource ${task.resource} is not bridged by the e2e runner (only Lambda)`);
      }
      const response = await invoke(opts.harness, fn, payload);
      if (name === opts.itemsFrom && distributedMaps.length > 0) {
        if (!response || typeof response.bucket !== 'string' || typeof response.key !== 'string') {
          throw lambdaError('States.Runtime', `Task ${name}: response has no bucket/key to read the map items from`);
        }
        const items = await readItems(opts.harness, response.bucket, response.key);
        for (const m of distributedMaps) e2e.items[m] = items;
      }
      if (task.mode === 'invoke') {
        return { ExecutedVersion: '$LATEST', Payload: response, StatusCode: 200, SdkHttpMetadata: { HttpStatusCode: 200 } };
      }
      return response;
    };
  }

  const machine = new StateMachine(definition, { validationOptions: { noValidate: true } });
  const execArn = `arn:aws:states:us-east-1:111111111111:execution:fleetdoctor-e2e:${opts.name}`;
  const execution = machine.run(opts.input, {
    overrides: { taskResourceLocalHandlers: handlers, retryIntervalOverrides: retryOverrides },
    context: {
      Execution: { Id: execArn, Name: opts.name, RoleArn: 'arn:aws:iam::111111111111:role/fleetdoctor-e2e' },
      StateMachine: { Id: 'arn:aws:states:us-east-1:111111111111:stateMachine:fleetdoctor-e2e', Name: 'fleetdoctor-e2e' },
      E2E: e2e,
    },
  });

  const states = [];
  const events = [];
  const collect = (async () => {
    for await (const ev of execution.eventLogs) {
      if (process.env.RUN_SFN_DEBUG) process.stderr.write(`run-sfn event: ${JSON.stringify(ev)}\n`);
      if (ev.type === 'StateEntered') states.push(ev.state.name);
      const e = { type: ev.type };
      if (ev.state) e.state = ev.state.name;
      if (ev.index !== undefined) e.index = ev.index;
      if (ev.parentState) e.parent = ev.parentState.name;
      if (ev.Error !== undefined) e.error = ev.Error;
      events.push(e);
    }
  })();

  const out = { status: 'SUCCEEDED', output: null, error: '', cause: '', states, events, rewrites: notes };
  try {
    out.output = await execution.result;
  } catch (err) {
    if (err instanceof ExecutionError) {
      out.status = 'FAILED';
      out.error = err.cause?.name ?? 'States.Runtime';
      out.cause = err.cause?.message ?? '';
    } else if (err instanceof ExecutionTimeoutError) {
      out.status = 'TIMED_OUT';
      out.error = 'States.Timeout';
    } else if (err instanceof ExecutionAbortedError) {
      out.status = 'ABORTED';
    } else {
      throw err;
    }
  }
  // The event log closes when the execution ends; wait for the last ones.
  await Promise.race([collect, new Promise((r) => setTimeout(r, 2000))]);
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((err) => fail(1, err?.stack ?? String(err)));
