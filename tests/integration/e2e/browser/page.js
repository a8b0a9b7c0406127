// The browser side of the pysips end-to-end test: a JsSIP phone driven by the test over the
// DevTools protocol. Every function returns a promise of a JSON value.
"use strict";

const MEDIA = { audio: true, video: false };
const state = { ua: null, session: null, incoming: [], log: [] };

function note(text) {
  state.log.push(`${(performance.now() / 1000).toFixed(3)} ${text}`);
}

function watch(session) {
  state.session = session;
  session.on("ended", (e) => { session.e2eEndedBy = e.originator; });
  for (const name of ["progress", "accepted", "confirmed", "ended", "failed"]) {
    session.on(name, (e) => note(`session ${name}${e && e.cause ? " " + e.cause : ""}`));
  }
  if (session.connection) {
    watchPeerConnection(session.connection);
  } else {
    session.on("peerconnection", (e) => watchPeerConnection(e.peerconnection));
  }
  return session;
}

function watchPeerConnection(pc) {
  pc.addEventListener("iceconnectionstatechange", () => note(`ice ${pc.iceConnectionState}`));
  pc.addEventListener("connectionstatechange", () => note(`pc ${pc.connectionState}`));
  // Played out, so Chromium decodes the audio and inbound-rtp reports its energy.
  pc.addEventListener("track", (e) => {
    const audio = new Audio();
    audio.srcObject = e.streams[0] || new MediaStream([e.track]);
    audio.play().catch((err) => note(`play failed: ${err}`));
  });
}

function register(wsUrl, uri) {
  return new Promise((resolve, reject) => {
    const socket = new JsSIP.WebSocketInterface(wsUrl);
    const ua = new JsSIP.UA({ sockets: [socket], uri, register: true, register_expires: 300,
                              session_timers: false, user_agent: "pysips-e2e-jssip" });
    ua.on("registered", () => { note(`registered ${ua.contact.uri}`); resolve(true); });
    ua.on("registrationFailed", (e) => reject(new Error(`registration failed: ${e.cause}`)));
    ua.on("newRTCSession", (e) => {
      if (e.originator === "remote") {
        // the Request-URI shows which contact lookup("location") chose
        note(`incoming ${e.request.call_id} ${e.request.ruri}`);
        state.incoming.push(e.session);
        watch(e.session);
      }
    });
    state.ua = ua;
    ua.start();
  });
}

function settle(session, event) {
  return new Promise((resolve, reject) => {
    if (event === "confirmed" && session.isEstablished()) { resolve(true); return; }
    session.on(event, () => resolve(true));
    session.on("failed", (e) => reject(new Error(`session failed: ${e.cause}`)));
  });
}

function call(target) {
  const session = watch(state.ua.call(target, { mediaConstraints: MEDIA, pcConfig: { iceServers: [] } }));
  return settle(session, "confirmed").then(() => session._request.call_id);
}

function answer() {
  const session = state.incoming.shift();
  if (!session) return Promise.reject(new Error("no incoming call"));
  session.answer({ mediaConstraints: MEDIA, pcConfig: { iceServers: [] } });
  return settle(session, "confirmed").then(() => session._request.call_id);
}

function hangup() {
  const session = state.session;
  const ended = new Promise((resolve) => session.on("ended", (e) => resolve(e.cause)));
  session.terminate();
  return ended;
}

// Who ended the current session ("local" or "remote"), once it has ended.
function ended() {
  const session = state.session;
  if (session.e2eEndedBy) return Promise.resolve(session.e2eEndedBy);
  return new Promise((resolve) => session.on("ended", (e) => resolve(e.originator)));
}

async function stats() {
  const pc = state.session.connection;
  const out = { iceConnectionState: pc.iceConnectionState, connectionState: pc.connectionState,
                packetsReceived: 0, packetsSent: 0 };
  const report = await pc.getStats();
  report.forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "audio") {
      out.packetsReceived = s.packetsReceived;
      out.totalAudioEnergy = s.totalAudioEnergy;
      const codec = report.get(s.codecId);
      out.inboundCodec = codec ? codec.mimeType : "";
    } else if (s.type === "outbound-rtp" && s.kind === "audio") {
      out.packetsSent = s.packetsSent;
    } else if (s.type === "transport") {
      out.dtlsState = s.dtlsState;
      out.iceState = s.iceState;
      const pair = report.get(s.selectedCandidatePairId);
      if (pair) {
        const local = report.get(pair.localCandidateId);
        const remote = report.get(pair.remoteCandidateId);
        out.selectedPair = `${local.address}:${local.port} -> ${remote.address}:${remote.port}`;
      }
    }
  });
  return out;
}

function sdp() {
  const pc = state.session.connection;
  return { local: pc.localDescription && pc.localDescription.sdp,
           remote: pc.remoteDescription && pc.remoteDescription.sdp };
}

window.e2e = { register, call, answer, hangup, ended, stats, sdp, state,
               log: () => state.log, incomingCount: () => state.incoming.length };
