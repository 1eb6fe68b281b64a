import { ServerInterceptingCall, ServerListenerBuilder, ResponderBuilder, status, type ServerInterceptor } from '@grpc/grpc-js';
import { TokenSet } from '../security/tokens.js';
import { grpcError } from './errors.js';
import { TributaryError } from '../errors.js';

/**
 * Every call on the server (queries and pushes) must carry
 * `authorization: Bearer <token>` metadata; one without ends UNAUTHENTICATED
 * before its handler runs or its first message is read.
 */
export function authInterceptor(tokens: TokenSet): ServerInterceptor {
  return (_method, call) => {
    const responder = new ResponderBuilder()
      .withStart((next) => {
        const listener = new ServerListenerBuilder()
          .withOnReceiveMetadata((metadata, nextMetadata) => {
            const value = metadata.get('authorization')[0];
            const header = typeof value === 'string' ? value : undefined;
            if (tokens.accepts(TokenSet.fromHeaderOf(header))) {
              nextMetadata(metadata);
              return;
            }
            const e = grpcError(
              new TributaryError(
                'E_UNAUTHENTICATED',
                header ? 'the bearer token is not valid' : 'a bearer token is required (authorization: Bearer <token>)',
                {},
              ),
            );
            call.sendStatus({ code: status.UNAUTHENTICATED, details: e.details, metadata: e.metadata });
          })
          .build();
        next(listener);
      })
      .build();
    return new ServerInterceptingCall(call, responder);
  };
}
