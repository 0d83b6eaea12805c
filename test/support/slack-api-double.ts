/**
 * The tests' Slack Web API double is the product's own in-process Web API (the local console's
 * Slack), so the tests and the console cannot drift apart: see local/console/slack-web-api.ts.
 */
export {
  SlackWebApi as SlackApiDouble,
  type EphemeralMessage,
  type RateLimit,
  type RecordedCall,
  type ResponseUrlPost,
  type SlackMessage,
  type SlackWebApiOptions as SlackApiDoubleOptions,
} from '../../local/console/slack-web-api.js';
