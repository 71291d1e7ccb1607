export { GatehouseModule } from './app.module.js';
export { createGatehouseApp, startGatehouse } from './bootstrap.js';
export { type AppConfig, ConfigError, loadConfig } from './platform/config/app-config.js';
export type { GatehouseOptions, RegisteredClaims } from './platform/config/gatehouse-options.js';
export type { PublicUser } from './users/user.mapper.js';
