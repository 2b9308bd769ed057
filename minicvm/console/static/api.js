// Talking to the console's JSON surface. Every state change is one API action through /console/api/call,
// so the server applies exactly the rules the signed API applies.

const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";

export const session = {
  region: localStorage.getItem("minicvm.region") || "ap-guangzhou",
  regions: [],
  account: "",
};

export class ApiError extends Error {
  constructor(code, message, requestId = "") {
    super(message);
    this.code = code;
    this.requestId = requestId;
  }
}

async function body(resp) {
  if (resp.status === 401) {
    // The session ended (expired or signed out elsewhere): start over at the sign-in page.
    window.location.assign("/console/login");
    throw new ApiError("AuthFailure.SessionExpired", "Please sign in again.");
  }
  let data;
  try {
    data = await resp.json();
  } catch {
    throw new ApiError("InternalError", `The server answered HTTP ${resp.status} without JSON.`);
  }
  if (data && data.Error) throw new ApiError(data.Error.Code, data.Error.Message);
  if (!resp.ok) throw new ApiError("InternalError", `The server answered HTTP ${resp.status}.`);
  return data;
}

/** One API action; resolves to the Response object, or throws ApiError with the API's code and message. */
export async function call(service, action, params = {}, region = session.region) {
  const resp = await fetch("/console/api/call", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify({ Service: service, Action: action, Region: region, Params: params }),
  });
  const data = await body(resp);
  const response = data.Response || {};
  if (response.Error) throw new ApiError(response.Error.Code, response.Error.Message, response.RequestId);
  return response;
}

/** GET one of the console's read endpoints (region added unless given). */
export async function get(path, query = {}) {
  const params = new URLSearchParams({ region: session.region, ...query });
  for (const [key, value] of [...params]) if (value === "" || value === undefined) params.delete(key);
  const resp = await fetch(`${path}?${params}`, { credentials: "same-origin", headers: { Accept: "application/json" } });
  return body(resp);
}

let lifecycleTable;

/** The server's lifecycle table: for each action and state, where the action leads (read once per page). */
export function lifecycle() {
  lifecycleTable ||= get("/console/api/lifecycle").catch((exc) => { lifecycleTable = undefined; throw exc; });
  return lifecycleTable;
}

/** Instances with the console's per-action verdicts, re-read by id. */
export async function freshInstances(ids) {
  if (!ids.length) return [];
  const data = await get("/console/api/instances", { ids: ids.join(","), limit: "100" });
  const byId = new Map(data.InstanceSet.map((i) => [i.InstanceId, i]));
  return ids.map((id) => byId.get(id)).filter(Boolean);
}
