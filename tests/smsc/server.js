'use strict';
// A test SMSC for dlrhub's SMPP tests, on node-smpp (an implementation independent of the
// codec dlrhub uses). Settings from the environment, commands as JSON lines on stdin, what
// happens as JSON lines on stdout (one object with "event" per line). See tests/support/smsc.py.

const fs = require('fs');
const readline = require('readline');
const smpp = require('smpp');
const { PDU } = require('smpp/lib/pdu');
const defs = require('smpp/lib/defs');

const env = process.env;
const PORT = Number(env.PORT || 0);
const SYSTEM_ID = env.SYSTEM_ID || 'dlrhub';
const PASSWORD = env.PASSWORD || 'secret';
const IDS = env.IDS || 'hex';
const RECEIPTS = env.RECEIPTS || 'tlv';
const RECEIPT_DELAY_MS = Number(env.RECEIPT_DELAY_MS || 50);
const RESP_DELAY_MS = Number(env.RESP_DELAY_MS || 0);

const ESME_ROK = 0x00;
const ESME_RINVBNDSTS = 0x04;
const ESME_RBINDFAIL = 0x0d;
const ESME_RINVDSTADR = 0x0b;
const ESME_RMSGQFUL = 0x14;
const ESME_RTHROTTLED = 0x58;
const STATES = { 1: 'ENROUTE', 2: 'DELIVRD', 3: 'EXPIRED', 4: 'DELETED', 5: 'UNDELIV', 6: 'ACCEPTD', 7: 'UNKNOWN', 8: 'REJECTD' };

const started = process.hrtime.bigint();
const nowMs = () => Number((process.hrtime.bigint() - started) / 1000000n);

// node-smpp replaces short_message by {udh, message} while decoding: keep the bytes as sent.
const originalFilter = PDU.prototype._filter;
PDU.prototype._filter = function (func) {
  if (func === 'decode' && Buffer.isBuffer(this.short_message)) {
    this.raw_short_message = Buffer.from(this.short_message);
  }
  return originalFilter.call(this, func);
};

let stdoutOpen = true;
process.stdout.on('error', () => { stdoutOpen = false; });
function emit(event, fields) {
  if (!stdoutOpen) return;
  try {
    process.stdout.write(JSON.stringify(Object.assign({ event }, fields || {})) + '\n');
  } catch (e) {
    stdoutOpen = false;
  }
}

let counter = 0x1f4a00;
const sessions = new Set(); // bound sessions
const throttled = new Map(); // destination -> throttle answers given
const queueFull = new Set(); // destinations already answered ESME_RMSGQFUL once
// Every deliver_sm not yet answered ESME_ROK, by system_id: redelivered at the next bind.
const unanswered = new Map();
let deliverCounter = 0;

function pending(systemId) {
  if (!unanswered.has(systemId)) unanswered.set(systemId, new Map());
  return unanswered.get(systemId);
}

function stamp(date) {
  const p = (n) => String(n).padStart(2, '0');
  return p(date.getUTCFullYear() % 100) + p(date.getUTCMonth() + 1) + p(date.getUTCDate()) +
    p(date.getUTCHours()) + p(date.getUTCMinutes());
}

function receiptPdu(spec) {
  const date = stamp(new Date());
  const stat = STATES[spec.state] || 'UNKNOWN';
  const err = spec.state === 2 ? '000' : '001';
  const text = `id:${spec.textId} sub:001 dlvrd:${spec.state === 2 ? '001' : '000'} submit date:${date}` +
    ` done date:${date} stat:${stat} err:${err} text:${(spec.text || '').slice(0, 20)}`;
  const pdu = {
    source_addr: spec.source, destination_addr: spec.destination, esm_class: 4, data_coding: 0,
    short_message: Buffer.from(text, 'latin1'),
  };
  if (spec.mode === 'tlv') {
    pdu.receipted_message_id = spec.id;
    pdu.message_state = spec.state;
  }
  return pdu;
}

function moBuffer(text, dataCoding) {
  if (dataCoding === 8) return Buffer.from(text, 'utf16le').swap16();
  return defs.gsmCoder.encode(text, 0x00);
}

function sessionFor(systemId, preferred) {
  if (preferred && sessions.has(preferred) && !preferred.socket.destroyed) return preferred;
  for (const s of sessions) if (!systemId || s.systemId === systemId) return s;
  return null;
}

// Sends one tracked deliver_sm (receipt or MO) now if a session of its system_id is bound.
function deliver(item, preferred) {
  const session = sessionFor(item.systemId, preferred);
  if (!session) return;
  item.session = session;
  const sentAt = nowMs();
  emit('deliver_sm', { id: item.id, kind: item.kind });
  session.deliver_sm(Object.assign({}, item.pdu), (resp) => {
    const status = resp.command_status;
    emit('deliver_sm_resp', { id: item.id, kind: item.kind, status, after_ms: nowMs() - sentAt });
    if (status === ESME_ROK) pending(item.systemId).delete(item.key);
    else item.session = null;
  });
}

function track(systemId, kind, id, pdu, preferred) {
  const key = `d${++deliverCounter}`;
  const item = { key, systemId, kind, id, pdu, session: null };
  pending(systemId).set(key, item);
  deliver(item, preferred);
}

function textId(numeric, mode) {
  return mode === 'text-dec' ? String(numeric) : numeric.toString(16);
}

function answerSubmit(session, pdu) {
  const raw = pdu.raw_short_message || Buffer.alloc(0);
  const decoded = pdu.short_message || {};
  const dest = pdu.destination_addr;
  const tail = dest.slice(-2);
  let status = ESME_ROK;
  if (!session.systemId) status = ESME_RINVBNDSTS;
  else if (tail === '01') status = ESME_RINVDSTADR;
  else if (tail === '02' && (throttled.get(dest) || 0) < 2) {
    throttled.set(dest, (throttled.get(dest) || 0) + 1);
    status = ESME_RTHROTTLED;
  } else if (tail === '06' && !queueFull.has(dest)) {
    queueFull.add(dest);
    status = ESME_RMSGQFUL;
  }
  const numeric = status === ESME_ROK ? ++counter : 0;
  const messageId = status === ESME_ROK ? (IDS === 'dec' ? String(numeric) : numeric.toString(16)) : '';
  const udh = pdu.esm_class & 0x40 && raw.length ? raw.slice(0, raw[0] + 1).toString('hex') : null;
  session.inFlight += 1;
  emit('submit', {
    message_id: messageId, status, sequence_number: pdu.sequence_number,
    source: pdu.source_addr, source_ton: pdu.source_addr_ton, source_npi: pdu.source_addr_npi,
    destination: dest, dest_ton: pdu.dest_addr_ton, dest_npi: pdu.dest_addr_npi,
    data_coding: pdu.data_coding, esm_class: pdu.esm_class, registered_delivery: pdu.registered_delivery,
    udh, text: typeof decoded.message === 'string' ? decoded.message : null,
    short_message: raw.toString('hex'), in_flight: session.inFlight, at_ms: nowMs(),
  });
  const respond = () => {
    session.inFlight -= 1;
    if (session.socket.destroyed) return;
    session.send(pdu.response({ command_status: status, message_id: messageId }));
    emit('submit_sm_resp', { message_id: messageId, status, sequence_number: pdu.sequence_number, at_ms: nowMs() });
  };
  if (RESP_DELAY_MS > 0) setTimeout(respond, RESP_DELAY_MS);
  else respond();
  if (status !== ESME_ROK || tail === '05') return;
  const state = tail === '03' ? 5 : tail === '04' ? 3 : 2;
  const mode = RECEIPTS;
  const spec = {
    id: messageId, textId: mode === 'tlv' ? messageId : textId(numeric, mode), state, mode,
    source: dest, destination: pdu.source_addr, text: decoded.message,
  };
  setTimeout(() => track(session.systemId, 'receipt', messageId, receiptPdu(spec), session), RECEIPT_DELAY_MS);
}

function onBind(session, pdu) {
  const ok = pdu.system_id === SYSTEM_ID && pdu.password === PASSWORD;
  emit('bind', { system_id: pdu.system_id, ok, command: pdu.command, interface_version: pdu.interface_version });
  if (!ok) {
    session.send(pdu.response({ command_status: ESME_RBINDFAIL }));
    return;
  }
  session.systemId = pdu.system_id;
  sessions.add(session);
  session.send(pdu.response({ system_id: 'dlrhub-smsc' }));
  for (const item of pending(session.systemId).values()) {
    if (!item.session) deliver(item, session);
  }
}

function onSession(session) {
  session.inFlight = 0;
  session.systemId = null;
  session.on('error', (e) => emit('session_error', { message: String(e && e.message) }));
  session.on('bind_transceiver', (pdu) => onBind(session, pdu));
  session.on('submit_sm', (pdu) => answerSubmit(session, pdu));
  session.on('enquire_link', (pdu) => {
    emit('enquire_link', { system_id: session.systemId });
    session.send(pdu.response());
  });
  session.on('enquire_link_resp', () => emit('enquire_link_resp', { system_id: session.systemId }));
  session.on('generic_nack', (pdu) => emit('generic_nack', { sequence_number: pdu.sequence_number }));
  session.on('unknown', (pdu) => session.send(pdu.response()));
  session.on('unbind', (pdu) => {
    emit('unbind', { system_id: session.systemId, outstanding: session.inFlight });
    session.send(pdu.response());
    sessions.delete(session);
    setTimeout(() => session.close(), 50);
  });
  session.on('close', () => {
    sessions.delete(session);
    for (const items of unanswered.values()) {
      for (const item of items.values()) if (item.session === session) item.session = null;
    }
    emit('close', { system_id: session.systemId });
  });
}

function onCommand(line) {
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (e) {
    emit('bad_command', { line });
    return;
  }
  if (cmd.cmd === 'mo') {
    const dataCoding = cmd.data_coding || 0;
    const pdu = {
      source_addr: cmd.from, destination_addr: cmd.to, esm_class: 0, data_coding: dataCoding,
      short_message: cmd.hex ? Buffer.from(cmd.hex, 'hex') : moBuffer(cmd.text || '', dataCoding),
    };
    const session = sessionFor(cmd.system_id || null, null);
    track(session ? session.systemId : (cmd.system_id || SYSTEM_ID), 'mo', cmd.id || `mo-${deliverCounter + 1}`, pdu, null);
  } else if (cmd.cmd === 'receipt') {
    const mode = cmd.mode || 'tlv';
    const spec = {
      id: String(cmd.id || ''), textId: String(cmd.id || ''), state: cmd.state === undefined ? 2 : cmd.state, mode,
      source: cmd.from || '447700900123', destination: cmd.to || 'dlrhub', text: cmd.text || '',
    };
    track(cmd.system_id || SYSTEM_ID, 'receipt', cmd.id, receiptPdu(spec), null);
  } else if (cmd.cmd === 'enquire_link') {
    for (const s of sessions) s.enquire_link();
  } else if (cmd.cmd === 'drop') {
    for (const s of Array.from(server.sessions || [])) s.socket.destroy();
  } else {
    emit('bad_command', { line });
  }
}

const options = {};
if (env.TLS_CERT && env.TLS_KEY) {
  options.cert = fs.readFileSync(env.TLS_CERT);
  options.key = fs.readFileSync(env.TLS_KEY);
}
const server = smpp.createServer(options, onSession);
server.on('error', (e) => emit('server_error', { message: String(e && e.message) }));
server.on('tlsClientError', (e) => emit('tls_error', { message: String(e && e.message) }));
server.listen(PORT, '127.0.0.1', () => emit('listening', { port: server.address().port, tls: !!options.cert }));

// A command the server cannot carry out is reported, never a reason to stop serving.
readline.createInterface({ input: process.stdin }).on('line', (line) => {
  try {
    onCommand(line);
  } catch (e) {
    emit('command_error', { line, message: String(e && e.message) });
  }
});
process.stdin.on('end', () => process.exit(0));
